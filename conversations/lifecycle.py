"""A message's life, written only here: how an answer ends (Outcome, end_fields) and the
QuerySet that claims, checkpoints, finishes and interrupts answers (STYLE 17).
conversations.models attaches MessageQuerySet to Message and re-exports all three."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog import usage as usage_ledger
from conversations import errors
from realtime.events import MessageData

if TYPE_CHECKING:
    from catalog.models import UsageRecord
    from catalog.quotas import TokenBudget
    from conversations.models import Conversation, Message


class Status(models.TextChoices):
    """A message's status (Message.Status)."""

    PENDING = "pending", _("Pending")
    STREAMING = "streaming", _("Streaming")
    DONE = "done", _("Done")
    STOPPED = "stopped", _("Stopped")
    ERROR = "error", _("Error")
    INTERRUPTED = "interrupted", _("Interrupted")


# Still being written (Message.LIVE).
LIVE = (Status.PENDING, Status.STREAMING)


@dataclass(frozen=True)
class Outcome:
    """How an answer ended: a status, and for a failure a stable code (conversations.errors
    turns it into words when shown) with the upstream's detail as written then."""

    status: str
    finish_reason: str | None = None
    error_code: str = ""
    error: str = ""
    retry_after: int | None = None

    @classmethod
    def done(cls, finish_reason: str | None) -> Outcome:
        return cls(Status.DONE, finish_reason)

    @classmethod
    def stopped(cls) -> Outcome:
        # No finish_reason: "stop" would claim the model ended by itself.
        return cls(Status.STOPPED)

    @classmethod
    def failed(cls, code: str, detail: str = "", *, retry_after: int | None = None) -> Outcome:
        """An error: `detail` is the upstream's own words, else the code's English sentence."""
        error = detail or errors.stored_text(code)
        return cls(Status.ERROR, None, code, error, retry_after)

    @classmethod
    def interrupted(cls) -> Outcome:
        """The one interrupted outcome: the server went away while the answer was written."""
        return cls(Status.INTERRUPTED, None, "interrupted", errors.stored_text("interrupted"))


def end_fields(
    outcome: Outcome,
    *,
    text: str,
    html: str,
    usage: Mapping[str, object] | None = None,
    context_from_id: int | None = None,
    reasoning: str = "",
    reasoning_seconds: float | None = None,
) -> dict[str, Any]:
    """The columns an answer's end writes."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": outcome.status,
        "content": text,
        "html": html,
        "reasoning": reasoning,
        "reasoning_seconds": reasoning_seconds,
        "finish_reason": outcome.finish_reason or "",
        "error_code": outcome.error_code,
        "error": outcome.error,
        "retry_after": outcome.retry_after,
        "context_from_id": context_from_id,
        "finished_at": now,
        "updated_at": now,
    }
    if usage is not None:
        fields.update(usage)
    return fields


class MessageQuerySet(models.QuerySet["Message"]):
    """A message's life, written only here: claim (the pending answer), checkpoint,
    finish, end_interrupted. Nothing else updates a message's status or text."""

    def claim(
        self,
        *,
        conversation: Conversation,
        parent: Message,
        model: str,
        budget: TokenBudget | None = None,
    ) -> Message:
        """The pending answer, claimed by this process (settings.INSTANCE_ID): the process
        that creates an answer is the one that runs it, so no separate claim write.
        `budget`: the tokens it may spend (catalog.quotas), kept on the row (token_cap)
        and on the instance (token_budget, which says which quota it is)."""
        answer = self.create(
            conversation=conversation,
            parent=parent,
            role=self.model.Role.ASSISTANT,
            status=Status.PENDING,
            model=model,
            worker=settings.INSTANCE_ID,
            token_cap=budget.tokens if budget is not None else None,
        )
        answer.token_budget = budget
        return answer

    def checkpoint(self, message_id: int, text: str | None, reasoning: str = "") -> int:
        """Save the text (and thinking) so far (or, with None, only a heartbeat) of a live
        answer; the first checkpoint marks it streaming. Returns 0 if it is no longer live."""
        fields: dict[str, Any] = {"status": Status.STREAMING, "updated_at": timezone.now()}
        if text is not None:
            fields["content"] = text
            if reasoning:
                fields["reasoning"] = reasoning
        return self.filter(pk=message_id, status__in=LIVE).update(**fields)

    def finish(
        self,
        message_id: int,
        outcome: Outcome,
        *,
        text: str,
        html: str,
        usage: Mapping[str, object] | None = None,
        context_from_id: int | None = None,
        ledger: Sequence[UsageRecord] = (),
        loaded: Message | None = None,
        reasoning: str = "",
        reasoning_seconds: float | None = None,
    ) -> MessageData | None:
        """Save how the answer ended, with the usage-ledger rows of its upstream requests in
        the same transaction (so a retried end records them once; the ledger keeps them even
        when the answer is gone). None if the answer is gone.

        `html` is rendered by the caller, outside the database thread. The returned
        protocol Message is built from `loaded` (the answer as read before) and what was
        written, without reading the row back; read back when there is no `loaded`.
        """
        fields = end_fields(
            outcome, text=text, html=html, usage=usage, context_from_id=context_from_id,
            reasoning=reasoning, reasoning_seconds=reasoning_seconds,
        )  # fmt: skip
        with transaction.atomic():
            usage_ledger.record_all(list(ledger))
            if not self.filter(pk=message_id).update(**fields):
                return None
        if loaded is None:
            message = self.filter(pk=message_id).first()
            return message.as_event() if message is not None else None
        return loaded.with_fields(fields).as_event()

    def end_interrupted(self, message: Message, *, html: str) -> bool:
        """Mark a live answer whose process is gone (or going) as interrupted, keeping the
        text it has (`message.content`); False if it was no longer live."""
        outcome = Outcome.interrupted()
        now = timezone.now()
        return bool(
            self.filter(pk=message.pk, status__in=LIVE).update(
                status=outcome.status,
                error_code=outcome.error_code,
                error=outcome.error,
                html=html,
                finished_at=now,
                updated_at=now,
            )
        )
