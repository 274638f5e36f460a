"""One answer's life: context -> model -> deltas -> saved.

A generation runs as a task owned by the process (the registry below), never by a
socket: closing every tab does not stop it. It joins the conversation's control group
under its own channel, so Stop and snapshot requests reach it from any tab on any
instance. It talks to sockets only through the conversation group (best effort: a
channel-layer failure drops frames, never the answer), and to the database a bounded
number of times: a checkpoint at most every CHECKPOINT_SECONDS (plus a heartbeat while
the upstream is silent) and the end, each retried while the database is unreachable.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, ParamSpec

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from accounts.models import settings_for
from catalog import config as catalog
from catalog import tokens
from catalog import usage as usage_ledger
from catalog.models import UsageRecord
from conversations import markdown
from conversations.fields import clean_text
from conversations.models import Conversation, Message
from modelclient import netio
from modelclient.providers import (
    ChatMessage,
    OpenAICompatible,
    ProviderError,
    UpstreamHTTPError,
    Usage,
)
from realtime import events
from realtime.publish import HeldFrames, held_frames
from streaming import layers

log = logging.getLogger(__name__)

CONTINUE_PROMPT = (
    "Your previous reply was cut off by the length limit. Continue exactly where it "
    "stopped, without repeating anything and without any preamble."
)
TITLE_PROMPT = (
    "Write a short title (at most six words) for the conversation below. "
    "Reply with the title only, no quotes, no punctuation at the end."
)
INTERRUPTED_ERROR = (
    "The server shut down while this answer was being written. The text so far is kept; "
    "you can regenerate the answer."
)
INTERNAL_ERROR = "Something went wrong on the server while writing this answer."
DATABASE_ERROR = (
    "The database could not be reached for a while, so this answer was ended early. "
    "The text so far is kept; you can regenerate the answer."
)
# How long before its next delta is due an answer reads what its upstream sent meanwhile
# (netio.ReadHold; a quarter of the window when that is shorter).
READ_LEAD_SECONDS = 0.005


# --- Context --------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    messages: list[ChatMessage]
    # The oldest history message sent; None when nothing older was left out.
    first_id: int | None


def fit_context(conversation: Conversation, answer: Message, *, budget: int) -> Context:
    """The messages the model is sent for `answer`, rebuilt from the database.

    The system prompt (always), then the branch leading to the answer (or only the last
    user message when the conversation's context is off), newest kept, oldest dropped
    to fit `budget` tokens (the model's window minus its output budget). The newest
    message is always sent.
    """
    path = conversation.path_to(answer.parent_id) if answer.parent_id else []
    history = [m for m in path if m.role in (Message.Role.USER, Message.Role.ASSISTANT)]
    history = [m for m in history if m.content]
    if not conversation.context_enabled:
        history = history[-1:]
    system = conversation.system_prompt or settings.SYSTEM_PROMPT
    remaining = budget - tokens.count_message(system) - tokens.REPLY_OVERHEAD
    kept: list[Message] = []
    for message in reversed(history):
        cost = tokens.count_message(message.content)
        if kept and cost > remaining:
            break
        remaining -= cost
        kept.append(message)
    kept.reverse()
    first_id = kept[0].pk if kept and len(kept) < len(history) else None
    context: list[ChatMessage] = [{"role": "system", "content": system}]
    for message in kept:
        role: Literal["user", "assistant"] = (
            "user" if message.role == Message.Role.USER else "assistant"
        )
        context.append({"role": role, "content": message.content})
    return Context(context, first_id)


def build_context(conversation: Conversation, answer: Message) -> list[ChatMessage]:
    """fit_context() with the budget of the answer's model (from the catalog)."""
    return fit_context(conversation, answer, budget=catalog.input_budget(answer.model)).messages


def clean_title(raw: str) -> str:
    """One line, no quotes or markdown, no "Title:" preamble (models like to add one)."""
    title = " ".join(raw.split()).strip("\"'“”`*# ")
    if title.lower().startswith("title:"):
        title = title[len("title:") :].strip("\"'“”`*# ")
    return title[:80]


# --- Database steps (each one short statement, run in the database thread) ------------


@dataclass(frozen=True)
class Job:
    answer: Message
    messages: list[ChatMessage]
    first_exchange: bool
    title: str
    user_id: int
    username: str
    # How to reach the answer's model; None with `error` set if it cannot be reached.
    model: catalog.ResolvedModel | None
    error: catalog.ModelUnavailable | None = None
    # The oldest history message sent, when older ones did not fit (saved at the end).
    context_from_id: int | None = None
    # The conversation owner's sampling settings (temperature, top_p), sent upstream.
    sampling: dict[str, Any] = field(default_factory=dict)


def _load(message_id: int) -> Job | None:
    """What the generation needs, read (never written): the answer was created live, with
    this process as its worker, by the action that posted it; the registry makes sure one
    process runs it once. None if it is no longer live (ended, or deleted)."""
    answer = (
        Message.objects.select_related("conversation__user__chat_settings")
        .defer("conversation__user__chat_settings__avatar")
        .filter(pk=message_id, status__in=Message.LIVE)
        .first()
    )
    if answer is None:
        return None
    return job_for(answer)


def job_for(answer: Message) -> Job:
    """The job of a live answer from the objects at hand: its conversation with the
    owner, and the conversation's messages (one query, none if the action that created
    the answer left them in known_messages)."""
    conversation = answer.conversation
    model: catalog.ResolvedModel | None = None
    error: catalog.ModelUnavailable | None = None
    try:
        model = catalog.resolve(answer.model)
    except catalog.ModelUnavailable as exc:
        error = exc
    budget = model.input_budget if model else catalog.input_budget(answer.model)
    everything = conversation.all_messages()
    conversation.known_messages = everything  # the path below reads nothing more
    context = fit_context(conversation, answer, budget=budget)
    first_exchange = not any(
        m.role == Message.Role.ASSISTANT and m.created_at < answer.created_at for m in everything
    )
    conversation.known_messages = None  # the running answer keeps only its context
    user = conversation.user
    return Job(
        answer, context.messages, first_exchange, conversation.title, user.pk,
        user.get_username(), model, error, context.first_id, settings_for(user).sampling(),
    )  # fmt: skip


def _post_and_load(
    action: Callable[..., Message], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Message, Job | None]:
    """The action (its own transaction), then the answer's job from what it read: one trip
    to the database thread instead of two, and no second reading of the same rows."""
    answer = action(*args, **kwargs)
    try:
        return answer, job_for(answer)
    except Exception:
        # Committed already: the generation reads its job itself (and retries).
        log.exception("Answer %s: job not built with the post", answer.pk)
        return answer, None


def _post_holding_frames(
    action: Callable[..., Message], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Message, Job | None, HeldFrames]:
    """_post_and_load, with the frames the action publishes returned rather than sent
    from this thread (held_frames): post_and_start sends them from its loop."""
    with held_frames() as frames:
        answer, job = _post_and_load(action, args, kwargs)
    return answer, job, frames


@dataclass
class UpstreamRequest:
    """One request sent upstream for an answer, and what it cost."""

    job: Job
    kind: str
    messages: list[ChatMessage]
    parts: list[str] = field(default_factory=list)  # the text received, as it came
    usage: Usage | None = None

    def entry(self, *, outcome: str) -> UsageRecord:
        """Its row of the usage ledger, not yet written."""
        assert self.job.model is not None
        if self.usage is not None:
            prompt, completion = self.usage["prompt_tokens"], self.usage["completion_tokens"]
        else:  # Stopped, failed or a server that reports no usage: count it ourselves.
            prompt = tokens.count_messages(self.messages)
            completion = tokens.count("".join(self.parts))
        return usage_ledger.entry(
            user_id=self.job.user_id,
            username=self.job.username,
            provider=self.job.model.provider,
            model=(
                self.job.model.title_model_name
                if self.kind == UsageRecord.Kind.TITLE
                else self.job.model.name
            ),
            kind=self.kind,
            outcome=outcome,
            prompt_tokens=prompt,
            completion_tokens=completion,
            estimated=self.usage is None,
            conversation_id=self.job.answer.conversation_id,
            message_id=self.job.answer.pk,
        )


def _options(model: catalog.ResolvedModel, sampling: dict[str, Any]) -> dict[str, Any]:
    """The request parameters: those the admin set on the model (output budget, default
    temperature), then the owner's own sampling settings (temperature, top_p), which
    override the model's default temperature but never its output budget."""
    options: dict[str, Any] = {}
    if model.max_output_tokens:
        options["max_tokens"] = model.max_output_tokens
    if model.temperature is not None:
        options["temperature"] = model.temperature
    options.update(
        {key: value for key, value in sampling.items() if key in ("temperature", "top_p")}
    )
    return options


def _checkpoint(message_id: int, text: str | None) -> None:
    """Save the text so far (or only a heartbeat); the first one marks the answer streaming."""
    fields: dict[str, Any] = {"status": Message.Status.STREAMING, "updated_at": timezone.now()}
    if text is not None:
        fields["content"] = text
    Message.objects.filter(pk=message_id, status__in=Message.LIVE).update(**fields)


def _checkpoint_all(rows: list[tuple[int, str | None]]) -> list[Exception | None]:
    """_checkpoint() for several answers in one trip to the database thread and one
    commit (on PostgreSQL each commit waits for its WAL flush, and the database thread
    is the process's one). A database that cannot be reached fails them all (raised);
    one statement refused for another reason makes each go on its own, so that one
    fails alone (its outcome in the list)."""
    try:
        with transaction.atomic():
            for message_id, text in rows:
                _checkpoint(message_id, text)
        return [None] * len(rows)
    except RETRYABLE:
        raise
    except Exception:
        pass
    outcomes: list[Exception | None] = []
    for message_id, text in rows:
        try:
            _checkpoint(message_id, text)
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes


def _finish(
    message_id: int,
    *,
    status: str,
    text: str,
    html: str,
    finish_reason: str | None,
    usage: Usage | None,
    error_code: str = "",
    error: str = "",
    retry_after: int | None = None,
    requests: list[UpstreamRequest] | None = None,
    context_from_id: int | None = None,
    answer: Message | None = None,
) -> dict[str, Any] | None:
    """Save how the answer ended, and what each upstream request cost (the ledger keeps
    that even when the conversation is gone, one INSERT for all); None if the answer is
    gone. The returned event is built from `answer` (as loaded) and what was written,
    or read back when the caller has no `answer`.

    `html` is rendered by the caller, outside the database thread.
    """
    with transaction.atomic():  # a retried end records its usage once
        return _finish_in_transaction(
            message_id, status=status, text=text, html=html, finish_reason=finish_reason,
            usage=usage, error_code=error_code, error=error, retry_after=retry_after,
            requests=requests, context_from_id=context_from_id, answer=answer,
        )  # fmt: skip


def _finish_in_transaction(
    message_id: int,
    *,
    status: str,
    text: str,
    html: str,
    finish_reason: str | None,
    usage: Usage | None,
    error_code: str,
    error: str,
    retry_after: int | None,
    requests: list[UpstreamRequest] | None,
    context_from_id: int | None,
    answer: Message | None,
) -> dict[str, Any] | None:
    usage_ledger.record_all([request.entry(outcome=status) for request in requests or ()])
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": status,
        "content": text,
        "html": html,
        "finish_reason": finish_reason or "",
        "error_code": error_code,
        "error": error,
        "retry_after": retry_after,
        "context_from_id": context_from_id,
        "finished_at": now,
        "updated_at": now,
    }
    if usage is not None:
        fields.update(usage)
    if not Message.objects.filter(pk=message_id).update(**fields):
        return None
    if answer is None:
        message = Message.objects.filter(pk=message_id).first()
        return message.as_event() if message is not None else None
    # The row as written, without reading it back: text cleaned as the fields clean it.
    ended = copy.copy(answer)
    for name, value in fields.items():
        setattr(ended, name, clean_text(value) if isinstance(value, str) else value)
    return ended.as_event()


def _save_title(
    conversation_id: int, expected: str, title: str, usage_rows: list[UsageRecord]
) -> bool:
    """Record the usage rows left for the title (one INSERT: the answer's requests and the
    title's), and replace the first-message title unless the user renamed it meanwhile."""
    with transaction.atomic():
        usage_ledger.record_all(usage_rows)
        if not title:
            return False
        updated = Conversation.objects.filter(pk=conversation_id, title=expected)
        return bool(updated.update(title=title))


# Failures that mean "the database is unreachable right now", worth retrying.
RETRYABLE = (OperationalError, InterfaceError)


class Outage:
    """Tracks one answer's database failures and says when to give up."""

    def __init__(self) -> None:
        self.since: float | None = None

    def failed(self) -> None:
        if self.since is None:
            self.since = time.monotonic()

    def ok(self) -> None:
        self.since = None

    @property
    def too_long(self) -> bool:
        limit = settings.DATABASE_RETRY_SECONDS
        return self.since is not None and time.monotonic() - self.since >= limit


# --- The generation -------------------------------------------------------------------


class Generation:
    def __init__(
        self,
        *,
        message_id: int,
        conversation_id: int,
        channel: str,
        layer: BaseChannelLayer,
        provider: OpenAICompatible | None,
        job: Job | None = None,
    ) -> None:
        self.message_id = message_id
        self._job = job  # read with the post (post_and_start); else run() reads it
        self.conversation_id = conversation_id
        self.channel = channel
        self.layer = layer
        self.provider = provider
        self.group = events.conversation_group(conversation_id)
        self.answer: Message | None = None
        self.sent: list[str] = []  # text already sent as deltas 1..seq
        self.pending: list[str] = []  # text waiting for the next delta frame
        self.seq = 0
        self.usage: Usage | None = None
        self.requests: list[UpstreamRequest] = []
        self.context_from_id: int | None = None
        self.stop_requested = False
        self._dirty = asyncio.Event()
        self._ended = asyncio.Event()  # the rounds are over: flush what is left now
        self._closing = False
        self._pump: asyncio.Task[str | None] | None = None
        self._last_checkpoint = time.monotonic()
        # Loop time before which no delta is sent: the coalescing window runs from the
        # previous delta, so the first one goes out at once.
        self._next_flush = 0.0
        self._read_hold = netio.ReadHold()
        self._outage = Outage()
        self._aborted = False  # the database stayed unreachable: the answer ends now
        self._end_saved = False
        # The answer's usage rows, when a title request follows: written with its row.
        self._unrecorded: list[UsageRecord] = []
        self._layer_failures = 0

    @property
    def text(self) -> str:
        return "".join(self.sent) + "".join(self.pending)

    def stop(self) -> None:
        self.stop_requested = True
        if self._pump is not None:
            self._pump.cancel()

    def snapshot(self) -> dict[str, Any] | None:
        if self.answer is None:
            return None
        event = self.answer.as_event(seq=self.seq)
        event.update(status=Message.Status.STREAMING, content="".join(self.sent))
        return event

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen())
        flusher: asyncio.Task[None] | None = None
        try:
            job = self._job or await self._load()
            self._job = None
            if job is None:
                return
            self.answer = job.answer
            self.context_from_id = job.context_from_id
            if self.provider is None and job.model is not None:
                self.provider = OpenAICompatible(job.model.config)
            flusher = asyncio.create_task(self._flush_loop())
            outcome = await self._stream(job)
            # Let the flusher send the rest and return: cancelled mid-send, a delta
            # would be lost after its seq was spent.
            self._closing = True
            self._ended.set()
            self._dirty.set()
            await flusher
            await self._flush()
            # A checkpoint not yet written is not needed (the end holds all the text);
            # one being written is waited for, so it cannot follow the end.
            await checkpoints.discard(self)
            titled = self._wants_title(job, outcome)
            message = await self._save_end(outcome, defer_usage=titled)
            if message is not None:
                await self._publish(events.done_frame(message))
            await self._stop_listening(listener)
            if message is not None and titled:
                await self._make_title(job)
            await self._record_unrecorded()
        except asyncio.CancelledError:
            # The process is shutting down: keep what arrived, say what happened.
            await self._end_interrupted()
            raise
        finally:
            if not listener.done():
                await self._stop_listening(listener)
            if flusher is not None and not flusher.done():
                flusher.cancel()  # only on the way out of an error or a shutdown
            try:
                await self.layer.group_discard(
                    events.control_group(self.conversation_id), self.channel
                )
                await layers.release_channel(self.layer, self.channel)
            except Exception as exc:
                log.warning(
                    "Answer %s: could not leave its control group: %r", self.message_id, exc
                )

    async def _load(self) -> Job | None:
        """Read the job, retrying while the database is unreachable (bounded)."""
        delay = 0.1
        deadline = time.monotonic() + settings.DATABASE_RETRY_SECONDS
        while True:
            try:
                job: Job | None = await database_sync_to_async(_load)(self.message_id)
                return job
            except RETRYABLE as exc:
                if time.monotonic() + delay > deadline:
                    log.error("Answer %s: no database, not started: %r", self.message_id, exc)
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _wants_title(self, job: Job, outcome: dict[str, Any]) -> bool:
        """A title request follows the end: the first exchange, done, titles on."""
        return (
            settings.AUTO_TITLE
            and job.first_exchange
            and outcome["status"] == Message.Status.DONE
            and job.model is not None
            and self.provider is not None
            and any(m["role"] == "user" for m in job.messages)
        )

    def _take_unrecorded(self) -> list[UsageRecord]:
        rows, self._unrecorded = self._unrecorded, []
        return rows

    async def _record_unrecorded(self) -> None:
        """Usage rows left for a title that was not asked for after all."""
        rows = self._take_unrecorded()
        if rows:
            try:
                await database_sync_to_async(usage_ledger.record_all)(rows)
            except Exception:
                log.exception("Answer %s: usage not recorded", self.message_id)

    async def _save_end(
        self, outcome: dict[str, Any], *, defer_usage: bool = False
    ) -> dict[str, Any] | None:
        """Save the end, retrying with backoff while the database is unreachable.

        defer_usage: the answer's usage rows are written with the title request's, in
        one INSERT (_make_title), not in this transaction. If the process stops before,
        shutdown writes them (save_interrupted).

        Retries last DATABASE_RETRY_SECONDS; after that the text this process holds is
        lost, and the row keeps its last checkpoint until it is recovered as
        interrupted (the next `sync` or `send` on it, or recover_streams).
        """
        # The stored text is cleaned by the field; the rendering must see the same text.
        text = clean_text(self.text)
        # Markdown rendering is CPU work: a pool thread, neither the event loop nor the
        # one thread every database call of the process queues on.
        html = await asyncio.to_thread(markdown.render, text)
        requests = self._take_requests()
        if defer_usage:
            self._unrecorded = [r.entry(outcome=outcome["status"]) for r in requests]
            requests = []
        delay = 0.1
        deadline = time.monotonic() + settings.DATABASE_RETRY_SECONDS
        while True:
            try:
                message: dict[str, Any] | None = await database_sync_to_async(_finish)(
                    self.message_id,
                    text=text,
                    html=html,
                    usage=self.usage,
                    requests=requests,
                    context_from_id=self.context_from_id,
                    answer=self.answer,
                    **outcome,
                )
                self._outage.ok()
                self._end_saved = True
                return message
            except RETRYABLE as exc:
                self._outage.failed()
                if time.monotonic() + delay > deadline:
                    log.error(
                        "Answer %s: the database stayed unreachable; %d characters not saved: %r",
                        self.message_id,
                        len(text),
                        exc,
                    )
                    return None
                if delay == 0.1:
                    log.warning(
                        "Answer %s: saving the end failed, retrying: %r", self.message_id, exc
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _stop_listening(self, listener: asyncio.Task[None]) -> None:
        """End the listener by a message, not by cancelling it.

        With channels-redis, the one receive() in progress reads for every local channel
        of the process; cancelling it can drop a frame it already took for a socket
        (such as the `done` just published). So the listener is told to return (and
        cancelled only if the channel layer cannot carry the message).
        """
        try:
            await self.layer.send(self.channel, events.exit_event())
            await asyncio.wait_for(asyncio.shield(listener), timeout=5)
        except TimeoutError:
            listener.cancel()
        except Exception as exc:
            log.warning("Answer %s: channel layer error at the end: %r", self.message_id, exc)
            listener.cancel()

    async def _stream(self, job: Job) -> dict[str, Any]:
        """Run the upstream rounds in a task Stop can cancel; describe how it ended."""
        self._pump = asyncio.create_task(self._rounds(job))
        if self.stop_requested:  # Stop arrived while the answer was being loaded.
            self._pump.cancel()
        current = asyncio.current_task()
        try:
            finish_reason = await self._pump
            return {"status": Message.Status.DONE, "finish_reason": finish_reason}
        except asyncio.CancelledError:
            if current is not None and current.cancelling():
                raise
            if self._aborted:
                return {
                    "status": Message.Status.ERROR,
                    "finish_reason": None,
                    "error_code": "database_unavailable",
                    "error": DATABASE_ERROR,
                }
            if not self.stop_requested:
                raise
            # No finish_reason: "stop" would claim the model ended by itself.
            return {"status": Message.Status.STOPPED, "finish_reason": None}
        except catalog.ModelUnavailable as exc:
            return {
                "status": Message.Status.ERROR,
                "finish_reason": None,
                "error_code": exc.code,
                "error": exc.message,
            }
        except ProviderError as exc:
            outcome: dict[str, Any] = {
                "status": Message.Status.ERROR,
                "finish_reason": None,
                "error_code": exc.code,
                "error": exc.message,
            }
            if isinstance(exc, UpstreamHTTPError) and exc.retry_after is not None:
                outcome["retry_after"] = exc.retry_after
            return outcome
        except Exception:
            log.exception("Answer %s failed", self.message_id)
            return {
                "status": Message.Status.ERROR,
                "finish_reason": None,
                "error_code": "internal",
                "error": INTERNAL_ERROR,
            }

    async def _rounds(self, job: Job) -> str | None:
        """Stream the answer, continuing it while the upstream stops for "length"."""
        if job.model is None or self.provider is None:
            raise job.error or catalog.ModelUnavailable("model_unavailable", INTERNAL_ERROR)
        model, options = job.model.model_id, _options(job.model, job.sampling)
        messages = job.messages
        finish_reason: str | None = None
        loop = asyncio.get_running_loop()
        pending = self.pending
        dirty = self._dirty
        # Reads gather what arrives until just before the next delta is due (_flush).
        netio.READ_HOLD.set(self._read_hold)
        for round_ in range(settings.MAX_CONTINUATIONS + 1):
            finish_reason = None
            kind = UsageRecord.Kind.CONTINUATION if round_ else UsageRecord.Kind.ANSWER
            request = UpstreamRequest(job, kind, messages)
            self.requests.append(request)
            parts = request.parts
            async with contextlib.aclosing(
                self.provider.stream_chat(model=model, messages=messages, options=options)
            ) as stream:
                async for delta in stream:
                    if delta.text:
                        pending.append(delta.text)
                        parts.append(delta.text)
                        dirty.set()
                        if loop.time() >= self._next_flush:
                            # A delta is due. A fast upstream's body is already
                            # buffered, so reading it never waits: let the flusher run.
                            await asyncio.sleep(0)
                    if delta.finish_reason:
                        finish_reason = delta.finish_reason
                    if delta.usage:
                        request.usage = delta.usage
                        self._add_usage(delta.usage)
            if finish_reason != "length":
                break
            messages = [
                *job.messages,
                {"role": "assistant", "content": self.text},
                {"role": "user", "content": CONTINUE_PROMPT},
            ]
        return finish_reason

    def _take_requests(self) -> list[UpstreamRequest]:
        """The requests not yet in the ledger (each is recorded once, however it ends)."""
        requests, self.requests = self.requests, []
        return requests

    def _add_usage(self, usage: Usage) -> None:
        if self.usage is None:
            self.usage = usage.copy()
            return
        self.usage["prompt_tokens"] += usage["prompt_tokens"]
        self.usage["completion_tokens"] += usage["completion_tokens"]
        self.usage["total_tokens"] += usage["total_tokens"]

    async def _flush_loop(self) -> None:
        """Coalesce tokens into delta frames; checkpoint; heartbeat while silent.

        The first text goes out as soon as it arrives; after each delta, the next waits
        until the coalescing window has passed (coalesce_window(): DELTA_COALESCE_MS,
        wider under load), gathering every token of that window.
        """
        loop = asyncio.get_running_loop()
        heartbeat = max(1.0, settings.STREAM_STALE_SECONDS / 3)
        while not self._closing:
            if not self._dirty.is_set():
                try:
                    # asyncio.timeout, not wait_for: wait_for (3.11) wraps the wait in a
                    # new Task, once per delta frame of every answer.
                    async with asyncio.timeout(heartbeat):
                        await self._dirty.wait()
                except TimeoutError:
                    self._checkpoint_soon(with_text=False)
                    continue
            delay = self._next_flush - loop.time()
            if delay > 0 and not self._closing:
                # Until the window ends, or at once when the answer ends.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._ended.wait()
            await self._flush()

    async def _flush(self) -> None:
        text = "".join(self.pending)
        self.pending.clear()
        self._dirty.clear()
        if not text:
            return
        self.seq += 1
        self.sent.append(text)
        window = coalesce_window()
        self._next_flush = asyncio.get_running_loop().time() + window
        self._read_hold.until = self._next_flush - min(READ_LEAD_SECONDS, window / 4)
        await self._publish(events.delta_frame(self.message_id, self.seq, text))
        # No checkpoint on the way out: the end, saved next, holds the whole text.
        if (
            not self._closing
            and time.monotonic() - self._last_checkpoint >= settings.CHECKPOINT_SECONDS
        ):
            self._checkpoint_soon(with_text=True)

    def _checkpoint_soon(self, *, with_text: bool) -> None:
        """Save the text in the background: a slow or unreachable database never delays
        a delta. The process's checkpoints go together (Checkpoints, below), at most one
        of this answer's at a time; the text is taken when it is written."""
        self._last_checkpoint = time.monotonic()
        checkpoints.add(self, with_text=with_text)

    def checkpoint_text(self) -> str:
        return "".join(self.sent)

    def _checkpointed(self, error: Exception | None) -> None:
        """How this answer's checkpoint went (Checkpoints writes it with others')."""
        if error is None:
            self._outage.ok()
        elif isinstance(error, RETRYABLE):
            if self._outage.since is None:  # once per outage, not once per checkpoint
                log.warning("Answer %s: checkpoint failed, will retry: %r", self.message_id, error)
            self._outage.failed()
            if self._outage.too_long and not self._aborted:
                # Reading on would only pile up text that cannot be saved: end the
                # answer now as an error, keeping its text (saved when possible).
                log.error("Answer %s: database unreachable, ending the answer", self.message_id)
                self._aborted = True
                if self._pump is not None:
                    self._pump.cancel()
        else:
            log.error("Answer %s: checkpoint failed", self.message_id, exc_info=error)

    async def _listen(self) -> None:
        """Answer Stop and snapshot requests sent to the conversation's control group.

        A channel-layer failure (Redis down) pauses it, never ends it or the answer.
        """
        delay = 0.1
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except Exception as exc:
                log.warning("Answer %s: channel layer receive failed: %r", self.message_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.1
            if event["type"] == "generation.exit":
                return
            if event.get("message_id") not in (None, self.message_id):
                continue
            if event["type"] == "generation.stop":
                self.stop()
            elif event["type"] == "generation.snapshot":
                frame = events.snapshot_frame(self.snapshot())
                try:
                    await self.layer.send(event["reply_channel"], events.forward(frame))
                except Exception as exc:
                    log.warning("Answer %s: snapshot not sent: %r", self.message_id, exc)

    async def _publish(self, frame: events.ServerFrame) -> None:
        """Best effort: a frame the channel layer refuses (ChannelFull, Redis down) is
        dropped; the database is the truth and clients resync by `seq`."""
        try:
            await self.layer.group_send(self.group, events.forward(frame))
        except Exception as exc:
            self._layer_failures += 1
            if self._layer_failures == 1 or self._layer_failures % 100 == 0:
                log.warning(
                    "Answer %s: %d frame(s) not published: %r",
                    self.message_id,
                    self._layer_failures,
                    exc,
                )

    async def _make_title(self, job: Job) -> None:
        if not settings.AUTO_TITLE:
            return
        first_user = next((m for m in job.messages if m["role"] == "user"), None)
        if first_user is None:
            return
        prompt: list[ChatMessage] = [
            {"role": "system", "content": TITLE_PROMPT},
            {"role": "user", "content": first_user["content"][:1000]},
            {"role": "assistant", "content": self.text[:1000]},
        ]
        if job.model is None or self.provider is None:
            return
        request = UpstreamRequest(job, UsageRecord.Kind.TITLE, prompt)
        try:
            async with asyncio.timeout(20):
                raw, request.usage = await self.provider.complete_with_usage(
                    model=job.model.title_model_id, messages=prompt
                )
            request.parts.append(raw)
        except (ProviderError, TimeoutError) as exc:
            log.info("No title for conversation %s: %s", self.conversation_id, exc)
            rows = [*self._take_unrecorded(), request.entry(outcome=Message.Status.ERROR)]
            await database_sync_to_async(usage_ledger.record_all)(rows)
            return
        title = clean_title(raw)
        rows = [*self._take_unrecorded(), request.entry(outcome=Message.Status.DONE)]
        if await database_sync_to_async(_save_title)(self.conversation_id, job.title, title, rows):
            await self._publish(events.title_frame(self.conversation_id, title))

    def save_interrupted(self) -> dict[str, Any] | None:
        """End the answer as interrupted with the text this process holds (sync).

        Once its end is saved (a title being made), only what is left to record is."""
        if self._end_saved:
            usage_ledger.record_all(self._take_unrecorded())
            return None
        return _finish(
            self.message_id,
            status=Message.Status.INTERRUPTED,
            text=self.text,
            html=markdown.render(clean_text(self.text)),
            finish_reason=None,
            usage=self.usage,
            error_code="interrupted",
            error=INTERRUPTED_ERROR,
            requests=self._take_requests(),
            context_from_id=self.context_from_id,
            answer=self.answer,
        )

    async def _end_interrupted(self) -> None:
        if self.answer is None:
            return
        try:
            message = await database_sync_to_async(self.save_interrupted)()
            if message is not None:
                await self._publish(events.done_frame(message))
        except Exception:
            log.exception("Could not mark answer %s interrupted", self.message_id)


def coalesce_window() -> float:
    """Seconds between two delta frames of one answer: DELTA_COALESCE_MS, widened when so
    many answers stream that their frames together would pass DELTA_FRAMES_PER_SECOND
    (a frame's CPU cost hardly depends on its size), at most DELTA_COALESCE_MAX_MS."""
    window: float = settings.DELTA_COALESCE_MS / 1000
    budget: int = settings.DELTA_FRAMES_PER_SECOND
    if budget > 0:
        shared = len(registry.running) / budget
        if shared > window:
            window = max(window, min(shared, settings.DELTA_COALESCE_MAX_MS / 1000))
    return window


# --- Checkpoints: the process's answers saved together ---------------------------------


def checkpoint_gather_seconds() -> float:
    """How long the first checkpoint due waits for others to go with it (one trip to the
    database thread for all): a crash may lose up to CHECKPOINT_SECONDS plus this."""
    return min(0.25, float(settings.CHECKPOINT_SECONDS) / 4)


class Checkpoints:
    """Writes the checkpoints of the process's answers in batches.

    Each answer asks for a checkpoint at most once per CHECKPOINT_SECONDS; 200 answers
    streaming made 100 database-thread trips a second, each with asgiref's hand-over
    and, on PostgreSQL, channels' health check (py-spy at 200 concurrent: 5 % of the
    process). Those due within checkpoint_gather_seconds() of each other now go in one
    trip and one commit; each answer's UPDATE is still its own statement, and its
    outcome its own (Generation._checkpointed: retries, outage, giving up).
    """

    def __init__(self) -> None:
        self.queued: dict[int, tuple[Generation, bool]] = {}
        self.writing: set[int] = set()
        self._written: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, generation: Generation, *, with_text: bool) -> None:
        queued = self.queued.get(generation.message_id)
        self.queued[generation.message_id] = (
            generation,
            with_text or (queued is not None and queued[1]),
        )
        loop = asyncio.get_running_loop()
        if self._task is not None and self._task.get_loop() is not loop:
            # A task of an event loop that is gone (as between tests) never finishes its
            # write: what it held is forgotten with it.
            self._task, self.writing, self._written = None, set(), None
        if self._task is None:
            self._task = loop.create_task(
                self._run(), name="checkpoints", context=contextvars.Context()
            )

    async def discard(self, generation: Generation) -> None:
        """The answer is ending: drop its queued checkpoint, wait for one being written."""
        self.queued.pop(generation.message_id, None)
        task = self._task
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            return
        while generation.message_id in self.writing and self._written is not None:
            await self._written.wait()

    async def _run(self) -> None:
        try:
            while self.queued:
                await asyncio.sleep(checkpoint_gather_seconds())
                batch, self.queued = list(self.queued.values()), {}
                rows = [
                    (g.message_id, g.checkpoint_text() if with_text else None)
                    for g, with_text in batch
                ]
                self.writing = {g.message_id for g, _ in batch}
                self._written = asyncio.Event()
                try:
                    outcomes = await database_sync_to_async(_checkpoint_all)(rows)
                except Exception as exc:  # the trip itself failed (e.g. no connection)
                    outcomes = [exc] * len(batch)
                finally:
                    self.writing = set()
                    self._written.set()
                for (generation, _), error in zip(batch, outcomes, strict=True):
                    generation._checkpointed(error)
        finally:
            if self._task is asyncio.current_task():
                self._task = None


checkpoints = Checkpoints()


# --- The registry: the process owns every running answer -------------------------------


class Registry:
    def __init__(self) -> None:
        self.running: dict[int, tuple[Generation, asyncio.Task[None]]] = {}
        self._atexit = False

    def add(self, generation: Generation) -> asyncio.Task[None]:
        # A fresh context: the task must not inherit the request's or the socket's
        # context (asgiref keeps their thread executor there, which ends with them).
        task = asyncio.get_running_loop().create_task(
            generation.run(), name=f"answer-{generation.message_id}", context=contextvars.Context()
        )
        self.running[generation.message_id] = (generation, task)
        task.add_done_callback(lambda t: self._finished(generation.message_id, t))
        if not self._atexit:
            # Daphne stops its loop without cancelling tasks; save what we hold on exit.
            atexit.register(self.interrupt_all_sync)
            self._atexit = True
        return task

    def is_running(self, message_id: int) -> bool:
        return message_id in self.running

    def _finished(self, message_id: int, task: asyncio.Task[None]) -> None:
        self.running.pop(message_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("Answer %s crashed", message_id, exc_info=task.exception())

    async def shutdown(self) -> None:
        """Cancel every running answer (each marks itself interrupted) and wait."""
        tasks = [task for _, task in self.running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def interrupt_all_sync(self) -> None:
        for generation, _ in list(self.running.values()):
            try:
                generation.save_interrupted()
            except Exception:
                log.exception("Could not mark answer %s interrupted", generation.message_id)


registry = Registry()


async def start(
    message_id: int,
    conversation_id: int,
    *,
    provider: OpenAICompatible | None = None,
    job: Job | None = None,
) -> asyncio.Task[None]:
    """Start the answer `message_id` in this process and return its task.

    `job`: the answer's job when the caller already read it (post_and_start does).

    The control-group membership is in place before this returns, so a Stop sent right
    after a Send reaches the generation even if it has not run yet.
    """
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is configured in settings"
    # The default prefix matters: channels-redis reads every process-local channel of
    # one prefix through one blocking receive, so a separate prefix here would stall
    # every socket of this process while the generation waits for a Stop.
    existing = registry.running.get(message_id)
    if existing is None:
        channel = await layer.new_channel()
        existing = registry.running.get(message_id)  # started meanwhile?
    if existing is not None:
        return existing[1]  # one process runs an answer once
    generation = Generation(
        message_id=message_id,
        conversation_id=conversation_id,
        channel=channel,
        layer=layer,
        provider=provider,
        job=job,
    )
    task = registry.add(generation)
    try:
        await layer.group_add(events.control_group(conversation_id), channel)
    except Exception as exc:
        # Without the channel layer the answer still runs and is saved; only Stop and
        # snapshots from other tabs cannot reach it.
        log.warning("Answer %s: could not join its control group: %r", message_id, exc)
    return task


P = ParamSpec("P")


async def post_and_start(
    action: Callable[P, Message], /, *args: P.args, **kwargs: P.kwargs
) -> Message:
    """The one async entry point for "post and start the answer", for every transport.

    The socket (send, edit, regenerate) and the page (a new conversation's form) both
    come here: the action validates and writes in one transaction in a worker thread and
    returns the pending answer; the answer starts only after that commit, with the job
    read in the same trip to the database thread (_post_and_load).
    """
    posted: tuple[Message, Job | None, HeldFrames] = await database_sync_to_async(
        _post_holding_frames
    )(action, args, kwargs)
    answer, job, frames = posted
    # The frames the action published (the message, the answer, a title), from this
    # loop, before the answer can send its first delta.
    layer = get_channel_layer()
    for group, event in frames if layer is not None else ():
        try:
            await layer.group_send(group, event)
        except Exception as exc:
            # The answer is saved and starts anyway; sockets resync (sync) from the database.
            log.warning("Answer %s: a frame of its post not published: %r", answer.pk, exc)
    await start(answer.pk, answer.conversation_id, job=job)
    return answer
