"""The process owns every running answer: a strong reference to each task, failures
logged, shutdown cancelling them cleanly (each marks itself interrupted)."""

from __future__ import annotations

import asyncio
import atexit
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from chatweb import logs

log = logging.getLogger(__name__)


class Running(Protocol):
    """A running answer (streaming.generation.Generation)."""

    message_id: int

    def run(self) -> Coroutine[Any, Any, None]: ...

    def stop(self) -> None: ...

    def save_interrupted(self) -> object: ...


class Registry:
    def __init__(self) -> None:
        self.running: dict[int, tuple[Running, asyncio.Task[None]]] = {}
        self._atexit = False

    def add(self, answer: Running) -> asyncio.Task[None]:
        # A fresh context: the task must not inherit the request's or the socket's
        # context (asgiref keeps their thread executor there, which ends with them).
        # Only the request id goes along: the answer's log lines carry its starter's.
        task = asyncio.get_running_loop().create_task(
            answer.run(), name=f"answer-{answer.message_id}", context=logs.context_with_id()
        )
        self.running[answer.message_id] = (answer, task)
        task.add_done_callback(lambda t: self._finished(answer.message_id, t))
        if not self._atexit:
            # Daphne stops its loop without cancelling tasks; save what we hold on exit.
            atexit.register(self.interrupt_all_sync)
            self._atexit = True
        return task

    def get(self, message_id: int) -> Running | None:
        entry = self.running.get(message_id)
        return entry[0] if entry is not None else None

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
        for answer, _ in list(self.running.values()):
            try:
                answer.save_interrupted()
            except Exception:
                log.exception("Could not mark answer %s interrupted", answer.message_id)


registry = Registry()
