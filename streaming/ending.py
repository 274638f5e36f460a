"""An answer's end: saved with its usage rows, or, while the database is away, kept in
memory and on disk (streaming.spill) and saved when it returns, however long that takes.
The sockets hear of it at once either way."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async

from catalog.models import UsageRecord
from chatweb import prometheus
from conversations import markdown
from conversations.models import Message, Outcome, end_fields
from modelclient.providers import Usage
from realtime import events
from realtime.events import MessageData
from streaming.checkpoints import RETRYABLE
from streaming.spill import Spill

log = logging.getLogger(__name__)


class Ending:
    def __init__(
        self, message_id: int, *, publish: Callable[[events.ServerFrame], Awaitable[None]]
    ) -> None:
        self.message_id = message_id
        self._publish = publish
        self.spill = Spill(message_id)
        self._spilling: asyncio.Task[None] | None = None
        self.saved = False
        # The end as the sockets were told it, until the database holds it.
        self.unsaved: MessageData | None = None
        self._kept: tuple[Outcome, str, str, list[UsageRecord]] | None = None
        # The thinking and its duration, saved with the end (set by save / save_interrupted).
        self.reasoning: tuple[str, float | None] = ("", None)

    def keep_text(self, text: str) -> None:
        """A checkpoint failed (the database is away): the text goes to disk instead.
        One append at a time; the next failed checkpoint takes what came meanwhile."""
        if self._spilling is None or self._spilling.done():
            self._spilling = asyncio.get_running_loop().create_task(self._append(text))

    async def _append(self, text: str) -> None:
        try:
            await asyncio.to_thread(self.spill.append, text)
        except OSError:
            log.exception("Answer %s: the text could not be kept on disk", self.message_id)

    async def save(
        self,
        outcome: Outcome,
        *,
        text: str,
        usage: Usage | None,
        context_from_id: int | None,
        ledger: list[UsageRecord],
        answer: Message | None,
        reasoning: str = "",
        reasoning_seconds: float | None = None,
    ) -> MessageData | None:
        """Save the end with its usage rows and publish `done`; None if the answer is gone.

        While the database is unreachable, the end goes to the spill file and a `done`
        (saved: false) tells the sockets at once; saving is retried, with backoff, until
        the database is back, then a second `done` follows. A process stopped meanwhile
        leaves the spill file to start-up recovery (recover_streams).
        """
        # Markdown rendering is CPU work: a pool thread, neither the event loop nor the
        # one thread every database call of the process queues on.
        html = await asyncio.to_thread(markdown.render, text)
        self.reasoning = (reasoning, reasoning_seconds)
        delay = 0.1
        while True:
            try:
                message: MessageData | None = await database_sync_to_async(
                    Message.objects.finish
                )(
                    self.message_id, outcome, text=text, html=html, usage=usage,
                    context_from_id=context_from_id, ledger=ledger, loaded=answer,
                    reasoning=reasoning, reasoning_seconds=reasoning_seconds,
                )  # fmt: skip
                break
            except RETRYABLE as exc:
                prometheus.database_error("end")
                if self._kept is None:
                    log.warning(
                        "Answer %s: the database is unreachable; its end is kept on disk "
                        "and saved when it returns: %r", self.message_id, exc,
                    )  # fmt: skip
                    self._kept = (outcome, text, html, ledger)
                    await self._keep(outcome, text, html, usage, context_from_id, ledger, answer)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.saved = True
        self.unsaved = None
        if self._spilling is not None:
            await self._spilling
        if self.spill.exists:
            await asyncio.to_thread(self.spill.remove)
        if message is not None:
            await self._publish(events.done_frame(message))
        return message

    async def _keep(
        self,
        outcome: Outcome,
        text: str,
        html: str,
        usage: Usage | None,
        context_from_id: int | None,
        ledger: list[UsageRecord],
        answer: Message | None,
    ) -> None:
        if self._spilling is not None:
            await self._spilling  # appends in order
        try:
            await asyncio.to_thread(
                self.spill.end, text, outcome, usage=dict(usage) if usage else None,
                context_from_id=context_from_id, ledger=ledger, reasoning=self.reasoning[0],
                reasoning_seconds=self.reasoning[1],
            )  # fmt: skip
        except OSError:
            log.exception("Answer %s: its end could not be kept on disk", self.message_id)
        if answer is not None:
            reasoning, seconds = self.reasoning
            fields = end_fields(
                outcome, text=text, html=html, usage=usage, context_from_id=context_from_id,
                reasoning=reasoning, reasoning_seconds=seconds,
            )  # fmt: skip
            self.unsaved = answer.with_fields(fields).as_event()
            await self._publish(events.done_frame(self.unsaved, saved=False))

    def save_interrupted(
        self,
        *,
        text: str,
        usage: Usage | None,
        context_from_id: int | None,
        ledger: Callable[[str], list[UsageRecord]],
        answer: Message | None,
        reasoning: str = "",
        reasoning_seconds: float | None = None,
    ) -> MessageData | None:
        """Save the end as interrupted with `text` (sync, at shutdown), or the real end if
        one waits for the database; None once the end is saved or when the answer is
        gone. Raises while the database is away: the spill file then keeps the text."""
        if self.saved:
            return None
        if self._kept is not None:
            outcome, text, html, rows = self._kept
            reasoning, reasoning_seconds = self.reasoning
        else:
            outcome = Outcome.interrupted()
            html, rows = markdown.render(text), ledger(outcome.status)
        message = Message.objects.finish(
            self.message_id, outcome, text=text, html=html, usage=usage,
            context_from_id=context_from_id, ledger=rows, loaded=answer,
            reasoning=reasoning, reasoning_seconds=reasoning_seconds,
        )  # fmt: skip
        self.saved = True
        self.spill.remove()
        return message
