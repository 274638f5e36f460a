"""An answer that is not stored: a chat completion of the OpenAI-compatible /v1.

It is admitted like an answer of the page (the model open to the owner, the same quotas:
requests per hour in the shared cache, the token budget, answers at a time) inside the
API token's own limit (accounts.api_tokens.limits_of), reaches the model through the
same catalog and provider client, spends its budget through the same TokenMeter, and
leaves one row in the usage ledger (kind `api`, the token named) however it ends: done,
stopped (the client went away: the upstream request is closed) or error. Nothing else
is written: no conversation, no message.

The upstream is read by a task of its own, so the transport can wait for the next piece
with a timeout (a keep-alive while the model is silent) without cancelling the read.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import math
import secrets
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils.translation import gettext as _

from accounts import api_tokens
from accounts.models import ApiToken
from catalog import clock, quotas, tokens, usage
from catalog import config as catalog
from catalog.models import UsageRecord
from catalog.quotas import TokenBudget
from catalog.usage import UpstreamRequest
from chatweb import prometheus
from conversations import actions
from conversations import attachments as attaching
from conversations.models import Outcome
from modelclient.providers import ChatMessage, Delta, OpenAICompatible, Usage, has_images
from realtime.codes import ProtocolError
from streaming import jobs

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long the end of a completion whose client left may take to close the upstream
# request and write its usage row before the response lets go of it.
END_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class RateLimit:
    """The tightest requests-per-hour limit that applies (the owner's or the token's), for
    the x-ratelimit-* headers."""

    limit: int
    remaining: int
    resets_at: dt.datetime

    def reset_seconds(self) -> int:
        return max(1, math.ceil((self.resets_at - clock.now()).total_seconds()))


class Failed(Exception):
    """The completion failed after it was admitted: a stable code (realtime/codes.py) and a
    readable message. Its usage row is written (outcome `error`)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error)
        self.code = outcome.error_code
        self.message = outcome.error
        self.retry_after = outcome.retry_after


# The completions this process is running, by user: their count and the token budgets
# they hold join the answers being written in the quota check (see admit()). Weak: one
# admitted but never read (its client left before the response began) drops out with
# its object.
_live: dict[int, weakref.WeakSet[Completion]] = {}
_live_lock = threading.Lock()
# Ends still writing their usage row after their client left (strong references).
_ending: set[asyncio.Task[None]] = set()


class Completion:
    """One admitted completion: iterate pieces() once; then text, finish_reason, usage."""

    def __init__(
        self,
        *,
        user: AbstractBaseUser,
        token: ApiToken,
        model: catalog.ResolvedModel,
        messages: list[ChatMessage],
        options: dict[str, Any],
        budget: TokenBudget | None,
    ) -> None:
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.model = model
        self.messages = messages
        self.options = options
        self.user_id = int(user.pk or 0)
        self.meter = jobs.TokenMeter(budget)
        self.request = UpstreamRequest(
            user_id=self.user_id, username=user.get_username(), provider=model.provider,
            model=model.name, kind=UsageRecord.Kind.API, messages=messages,
            api_token=token.public_id,
        )  # fmt: skip
        self.finish_reason: str | None = None
        # A reasoning model's thinking (the delta's reasoning_content / reasoning), apart.
        self.reasoning_parts: list[str] = []
        self.rate: RateLimit | None = None
        self._recorded = False

    @property
    def reserved(self) -> int:
        return self.meter.budget.tokens if self.meter.budget is not None else 0

    @property
    def text(self) -> str:
        return "".join(self.request.parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    def usage(self) -> Usage:
        """The upstream's counts, else ours (a server that does not report usage)."""
        if self.request.usage is not None:
            return self.request.usage
        prompt = tokens.count_messages(self.messages)
        completion = tokens.count(self.text) + tokens.count(self.reasoning)
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )

    async def pieces(self, *, silence: float | None = None) -> AsyncGenerator[Delta | None, None]:
        """The reply as it arrives: a Delta per piece (what arrived meanwhile is joined
        into one), None after every `silence` seconds without one. Raises Failed. Leaving
        the iteration early (the client went away) stops the upstream request."""
        queue: asyncio.Queue[Delta | BaseException | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(queue), context=process_context())
        ended = False
        try:
            while True:
                try:
                    async with asyncio.timeout(silence):
                        item = await queue.get()
                except TimeoutError:
                    yield None
                    continue
                ended = False
                joined: list[Delta] = []
                while True:
                    if item is None:
                        ended = True
                    elif isinstance(item, BaseException):
                        ended = True
                        raise item
                    else:
                        joined.append(item)
                    if ended or queue.empty():
                        break
                    item = queue.get_nowait()
                if joined:
                    yield _join(joined)
                if ended:
                    return
        finally:
            # Ended (its usage row being written), or left early: then the upstream
            # request is closed now. Either way its row is written before this returns
            # (within END_WAIT_SECONDS; the task is kept and finishes regardless).
            if not reader.done():
                if not ended:
                    reader.cancel()
                _ending.add(reader)
                reader.add_done_callback(_ending.discard)
                await asyncio.wait({reader}, timeout=END_WAIT_SECONDS)

    async def _read(self, queue: asyncio.Queue[Delta | BaseException | None]) -> None:
        """Read the upstream into `queue` (None at the end, or the Failed), then record."""
        outcome = Outcome.stopped()
        started, first = time.monotonic(), True
        try:
            provider = OpenAICompatible(self.model.config)
            async with contextlib.aclosing(
                provider.stream_chat(
                    model=self.model.model_id, messages=self.messages, options=self.options
                )
            ) as stream:
                async for delta in stream:
                    if delta.text:
                        self.request.parts.append(delta.text)
                    if delta.reasoning:
                        self.reasoning_parts.append(delta.reasoning)
                        if self.meter.budget is not None:
                            self.meter.piece(delta.reasoning)
                    if delta.finish_reason:
                        self.finish_reason = delta.finish_reason
                    if delta.usage:
                        self.request.usage = delta.usage
                    queue.put_nowait(delta)
                    if first and (delta.text or delta.reasoning):
                        first = False
                        prometheus.first_token("completion", time.monotonic() - started)
                    if delta.text and self.meter.budget is not None:
                        self.meter.piece(delta.text)
            outcome = Outcome.done(self.finish_reason)
            queue.put_nowait(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = jobs.failure(exc, what=f"API completion {self.id}")
            queue.put_nowait(Failed(outcome))
        finally:
            await self._record(outcome.status)

    async def _record(self, status: str) -> None:
        """Its row in the usage ledger, once; and it no longer counts as running."""
        if self._recorded:
            return
        self._recorded = True
        _forget(self)
        prometheus.answer_ended("completion", status)
        try:
            await database_sync_to_async(usage.record_all)([self.request.entry(outcome=status)])
        except Exception:
            log.exception("API completion %s: its usage row was not written", self.id)


def _join(deltas: list[Delta]) -> Delta:
    if len(deltas) == 1:
        return deltas[0]
    finish = next((d.finish_reason for d in reversed(deltas) if d.finish_reason), None)
    used = next((d.usage for d in reversed(deltas) if d.usage), None)
    reasoning = "".join(d.reasoning for d in deltas)
    return Delta("".join(d.text for d in deltas), finish, used, reasoning)


def _forget(completion: Completion) -> None:
    with _live_lock:
        running = _live.get(completion.user_id)
        if running is not None:
            running.discard(completion)
            if not running:
                _live.pop(completion.user_id, None)


# --- Admission (the database thread) ------------------------------------------------------


def process_context() -> contextvars.Context:
    """The current context, except that database_sync_to_async runs on the process's
    database thread (its persistent connection), as for the sockets.

    Django runs each ASGI request in its own asgiref ThreadSensitiveContext, and an async
    view below a sync middleware (whitenoise's) inside that middleware's thread: database
    calls made under either go to a thread of that request's, which opens a new
    connection for every request (the bench counted one per /v1 call) and refuses, with a
    RuntimeError, a call from a task that outlives the request (a usage row written after
    the client left). Both are asgiref's context-local state, cleared here in a copy as
    ThreadSensitiveContext itself clears the second; tests/streaming/test_completions.py
    pins this asgiref behaviour."""
    context = contextvars.copy_context()
    context.run(_detach)
    return context


def _detach() -> None:
    SyncToAsync.thread_sensitive_context.set(None)  # type: ignore[arg-type]
    AsyncToSync.executors.current = None


async def in_process_context(work: Coroutine[Any, Any, T]) -> T:
    """Await `work` in process_context()."""
    return await asyncio.create_task(work, context=process_context())


async def admit(
    *,
    user: AbstractBaseUser,
    token: ApiToken,
    model: str,
    messages: list[ChatMessage],
    options: dict[str, Any],
) -> Completion:
    """A completion of `messages` by `model` for the token's owner, admitted by the owner's
    quotas and the token's; ProtocolError (model_not_found, model_not_allowed, …) or
    QuotaExceeded otherwise, and nothing is sent upstream."""
    completion: Completion = await in_process_context(
        database_sync_to_async(_admit)(user, token, model, messages, options)
    )
    return completion


def _admit(
    user: AbstractBaseUser,
    token: ApiToken,
    name: str,
    messages: list[ChatMessage],
    options: dict[str, Any],
) -> Completion:
    open_model(user, token, name)
    try:
        model = catalog.resolve(name)
    except catalog.ModelUnavailable as exc:
        raise ProtocolError(exc.code, exc.message) from exc
    if not model.accepts_images and has_images(messages):
        raise attaching.text_only(model.name)
    if not user.is_active:
        raise ProtocolError("account_inactive", _("This account is deactivated."))
    with transaction.atomic():
        # One admission of the user's at a time, so the answers-at-a-time check holds.
        actions.lock_user(int(user.pk or 0))
        limits = quotas.limits_for(user)
        live, reserved = actions.answers_in_flight(user, limits)
        with _live_lock:
            here = list(_live.get(int(user.pk or 0), ()))
        live += len(here)
        reserved += sum(c.reserved for c in here)
        with api_tokens.limits_of(token):
            budget = quotas.check(user, live_answers=live, reserved_tokens=reserved, limits=limits)
        completion = Completion(
            user=user, token=token, model=model, messages=messages,
            options=_options(model, options), budget=budget,
        )  # fmt: skip
        try:
            # The prompt alone may not fit in what is left: refused now, not mid-stream.
            completion.options = completion.meter.start_round(messages, completion.options)
        except jobs.BudgetSpent as exc:
            spent = exc.budget
            raise quotas.QuotaExceeded(spent.code, spent.limit, spent.resets_at) from exc
        with _live_lock:
            _live.setdefault(completion.user_id, weakref.WeakSet()).add(completion)
    completion.rate = rate_limit(user, token)
    return completion


def open_model(user: AbstractBaseUser, token: ApiToken, name: str) -> catalog.ModelChoice:
    """The model `name` if it is open to the owner (else model_not_found) and in the
    token's allowlist (else model_not_allowed)."""
    choice = next((c for c in catalog.models_for(user) if c.name == name), None)
    if choice is None:
        raise ProtocolError(
            "model_not_found",
            _("The model %(model)s does not exist or is not open to you.") % {"model": name},
        )
    api_tokens.check_model(token, name)
    return choice


def _options(model: catalog.ResolvedModel, asked: dict[str, Any]) -> dict[str, Any]:
    """The request's parameters: the client's, within the model's output budget (the
    admin's max_output_tokens), with the model's default temperature unless it chose one."""
    options = dict(asked)
    if model.temperature is not None:
        options.setdefault("temperature", model.temperature)
    if model.max_output_tokens:
        options["max_tokens"] = min(
            options.get("max_tokens", model.max_output_tokens), model.max_output_tokens
        )
    return options


def rate_limit(user: AbstractBaseUser, token: ApiToken) -> RateLimit | None:
    """The tightest hourly request limit on this owner and token, with what is left of it
    this hour; None when neither has one."""
    counters = [
        (user.pk, quotas.limits_for(user).requests_per_hour),
        (f"token:{token.public_id}", token.requests_per_hour or 0),
    ]
    applied = [(key, limit) for key, limit in counters if limit]
    if not applied:
        return None
    now = clock.now()
    hour = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    remaining = min(max(0, limit - quotas.requests_this_hour(key)) for key, limit in applied)
    return RateLimit(min(limit for _key, limit in applied), remaining, hour)


async def arate_limit(user: AbstractBaseUser, token: ApiToken) -> RateLimit | None:
    found: RateLimit | None = await in_process_context(
        database_sync_to_async(rate_limit)(user, token)
    )
    return found


def running_count() -> int:
    """Completions running in this process (for diagnostics and tests)."""
    with _live_lock:
        return sum(len(running) for running in _live.values())
