"""What an answer needs before it can run (its Job), read in one trip to the database
thread, and the parameters of its upstream requests."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import translation

from accounts.models import settings_for
from catalog import config as catalog
from catalog import quotas, tokens
from catalog.models import UsageRecord
from catalog.quotas import TokenBudget
from catalog.usage import UpstreamRequest
from chatweb import prometheus
from conversations import context_parts
from conversations.attachment_models import Attachment
from conversations.context import fit_context
from conversations.models import Message, Outcome
from modelclient.providers import ChatMessage, ProviderError, UpstreamHTTPError
from realtime.publish import HeldFrames, held_frames

log = logging.getLogger(__name__)


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
    # The tokens the answer may spend before a token quota is reached (None: no limit).
    budget: TokenBudget | None = None
    # The images `messages` name by placeholder, until with_images() loads them.
    images: dict[int, Attachment] = field(default_factory=dict)

    def request(self, kind: str, messages: list[ChatMessage]) -> UpstreamRequest:
        """A request of this answer for the usage ledger (kind: answer, continuation, title)."""
        assert self.model is not None
        return UpstreamRequest(
            user_id=self.user_id,
            username=self.username,
            provider=self.model.provider,
            model=(
                self.model.title_model_name if kind == UsageRecord.Kind.TITLE else self.model.name
            ),
            kind=kind,
            messages=messages,
            conversation_id=self.answer.conversation_id,
            message_id=self.answer.pk,
        )

    def options(self) -> dict[str, Any]:
        """The request parameters: those the admin set on the model (output budget, default
        temperature), then the owner's own sampling settings (temperature, top_p), which
        override the model's default temperature but never its output budget."""
        assert self.model is not None
        options: dict[str, Any] = {}
        if self.model.max_output_tokens:
            options["max_tokens"] = self.model.max_output_tokens
        if self.model.temperature is not None:
            options["temperature"] = self.model.temperature
        options.update(
            {key: value for key, value in self.sampling.items() if key in ("temperature", "top_p")}
        )
        return options


class BudgetSpent(Exception):
    """The answer spent its token budget: it ends with the quota's code, its text kept."""

    def __init__(self, budget: TokenBudget) -> None:
        super().__init__(budget.code)
        self.budget = budget


class TokenMeter:
    """An answer's spending against its token budget (a token quota), round by round.

    The budget bounds prompt and reply together: each round's prompt is counted with the
    tokenizer, the model is asked for no more than what is left (max_tokens), and the
    reply is counted piece by piece as it arrives (about 6 µs a piece), so a server that
    ignores max_tokens is cut off as soon as the budget is spent. The overshoot is at most
    the last piece's tokens beyond the budget, plus what the upstream's own count of the
    prompt exceeds ours by (the ledger keeps the upstream's counts when it reports them).
    """

    def __init__(self, budget: TokenBudget | None) -> None:
        self.budget = budget
        self.left = budget.tokens if budget is not None else 0

    def start_round(self, messages: list[ChatMessage], options: dict[str, Any]) -> dict[str, Any]:
        """The options of a round: max_tokens lowered to what is left (BudgetSpent if none)."""
        if self.budget is None:
            return options
        self.left -= tokens.count_messages(messages)
        if self.left <= 0:
            raise BudgetSpent(self.budget)
        return {**options, "max_tokens": min(options.get("max_tokens", self.left), self.left)}

    def piece(self, text: str) -> None:
        assert self.budget is not None
        self.left -= tokens.count(text)
        if self.left <= 0:
            raise BudgetSpent(self.budget)


def failure(exc: Exception, *, what: str) -> Outcome:
    """How an answer (or an API completion) that raised `exc` ended: its stable code and
    detail; an unexpected error is logged (as `what`) and stored as "internal"."""
    if isinstance(exc, catalog.ModelUnavailable):
        return Outcome.failed(exc.code, exc.message)
    if isinstance(exc, BudgetSpent):
        with translation.override("en"):  # stored in English, shown in the reader's
            return Outcome.failed(exc.budget.code, exc.budget.describe())
    if isinstance(exc, ProviderError):
        prometheus.upstream_error(exc.code)
        retry_after = exc.retry_after if isinstance(exc, UpstreamHTTPError) else None
        return Outcome.failed(exc.code, exc.message, retry_after=retry_after)
    log.error("%s failed", what, exc_info=exc)
    return Outcome.failed("internal")


def load(message_id: int) -> Job | None:
    """What the generation needs, read (never written): the answer was created live, with
    this process as its worker, by the action that posted it; the registry makes sure one
    process runs it once. None if it is no longer live (ended, or deleted)."""
    answer = (
        Message.objects.select_related("conversation__user__chat_settings", "conversation__project")
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
    images = model.accepts_images if model else False
    everything = conversation.all_messages()
    conversation.known_messages = everything  # the path below reads nothing more
    context = fit_context(conversation, answer, budget=budget, images=images)
    if context.cut:
        # The one write of a job, and only when a document did not fit: the page says
        # how much of it the model read (an update of its own column, never the text's).
        answer.context_cut = [cut.as_json() for cut in context.cut]
        Message.objects.filter(pk=answer.pk).update(context_cut=answer.context_cut)
    first_exchange = not any(
        m.role == Message.Role.ASSISTANT and m.created_at < answer.created_at for m in everything
    )
    conversation.known_messages = None  # the running answer keeps only its context
    user = conversation.user
    tokens_left = answer.token_budget
    if tokens_left is None and answer.token_cap is not None:
        tokens_left = quotas.budget_of(user, answer.token_cap)
    return Job(
        answer, context.messages, first_exchange, conversation.title, user.pk,
        user.get_username(), model, error, context.first_id, settings_for(user).sampling(),
        tokens_left, context.images,
    )  # fmt: skip


async def with_images(job: Job | None) -> Job | None:
    """The job with its images' bytes in its messages (data URLs), read from the storage
    in a worker thread (never the database thread or the event loop): right before the
    first request, so a job read with the post keeps no image in memory meanwhile."""
    if job is None or not job.images:
        return job
    messages = await context_parts.load_images(job.messages, job.images)
    return dataclasses.replace(job, messages=messages, images={})


def post_and_load(post: Callable[[], Message]) -> tuple[Message, Job | None, HeldFrames]:
    """The post (an action: its own transaction), then the answer's job from what it read:
    one trip to the database thread instead of two, and no second reading of the same rows.

    The frames the action publishes are returned rather than sent from this thread
    (held_frames): the caller sends them from its loop.
    """
    with held_frames() as frames:
        answer = post()
        try:
            job: Job | None = job_for(answer)
        except Exception:
            # Committed already: the generation reads its job itself (and retries).
            log.exception("Answer %s: job not built with the post", answer.pk)
            job = None
    return answer, job, frames
