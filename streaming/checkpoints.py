"""Saving the text of the process's streaming answers: in batches, retried through an
outage of the database."""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from conversations.models import Message

# Failures that mean "the database is unreachable right now", worth retrying.
RETRYABLE = (OperationalError, InterfaceError)


class Outage:
    """When one answer's database failures began (None: no outage)."""

    def __init__(self) -> None:
        self.since: float | None = None

    def failed(self) -> None:
        if self.since is None:
            self.since = time.monotonic()

    def ok(self) -> None:
        self.since = None


class Checkpointed(Protocol):
    """An answer whose text is checkpointed (streaming.generation.Generation)."""

    message_id: int

    def checkpoint_text(self) -> str: ...

    def checkpoint_reasoning(self) -> str: ...

    def checkpointed(self, error: Exception | None) -> None: ...


def write_all(rows: list[tuple[int, str | None, str]]) -> list[Exception | None]:
    """Message.objects.checkpoint() for several answers in one trip to the database thread
    and one commit (on PostgreSQL each commit waits for its WAL flush, and the database
    thread is the process's one). A database that cannot be reached fails them all
    (raised); one statement refused for another reason makes each go on its own, so that
    one fails alone (its outcome in the list)."""
    try:
        with transaction.atomic():
            for message_id, text, reasoning in rows:
                Message.objects.checkpoint(message_id, text, reasoning)
        return [None] * len(rows)
    except RETRYABLE:
        raise
    except Exception:
        pass
    outcomes: list[Exception | None] = []
    for message_id, text, reasoning in rows:
        try:
            Message.objects.checkpoint(message_id, text, reasoning)
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes


def gather_seconds() -> float:
    """How long the first checkpoint due waits for others to go with it (one trip to the
    database thread for all): a crash may lose up to CHECKPOINT_SECONDS plus this."""
    return min(0.25, float(settings.CHECKPOINT_SECONDS) / 4)


class Checkpoints:
    """Writes the checkpoints of the process's answers in batches.

    Each answer asks for a checkpoint at most once per CHECKPOINT_SECONDS; those due
    within gather_seconds() of each other go in one trip and one commit (200 answers
    made 100 database-thread trips a second before: docs/architecture.md). Each answer's
    UPDATE is still its own statement, and its outcome its own (Checkpointed.checkpointed:
    retries, outage, giving up).
    """

    def __init__(self) -> None:
        self.queued: dict[int, tuple[Checkpointed, bool]] = {}
        self.writing: set[int] = set()
        self._written: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, answer: Checkpointed, *, with_text: bool) -> None:
        queued = self.queued.get(answer.message_id)
        self.queued[answer.message_id] = (answer, with_text or (queued is not None and queued[1]))
        loop = asyncio.get_running_loop()
        if self._task is not None and self._task.get_loop() is not loop:
            # A task of an event loop that is gone (as between tests) never finishes its
            # write: what it held is forgotten with it.
            self._task, self.writing, self._written = None, set(), None
        if self._task is None:
            self._task = loop.create_task(
                self._run(), name="checkpoints", context=contextvars.Context()
            )

    async def discard(self, answer: Checkpointed) -> None:
        """The answer is ending: drop its queued checkpoint, wait for one being written."""
        self.queued.pop(answer.message_id, None)
        task = self._task
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            return
        while answer.message_id in self.writing and self._written is not None:
            await self._written.wait()

    async def _run(self) -> None:
        try:
            while self.queued:
                await asyncio.sleep(gather_seconds())
                batch, self.queued = list(self.queued.values()), {}
                rows = [
                    (
                        answer.message_id,
                        answer.checkpoint_text() if with_text else None,
                        answer.checkpoint_reasoning() if with_text else "",
                    )
                    for answer, with_text in batch
                ]
                self.writing = {answer.message_id for answer, _ in batch}
                self._written = asyncio.Event()
                try:
                    outcomes = await database_sync_to_async(write_all)(rows)
                except Exception as exc:  # the trip itself failed (e.g. no connection)
                    outcomes = [exc] * len(batch)
                finally:
                    self.writing = set()
                    self._written.set()
                for (answer, _), error in zip(batch, outcomes, strict=True):
                    answer.checkpointed(error)
        finally:
            if self._task is asyncio.current_task():
                self._task = None


checkpoints = Checkpoints()
