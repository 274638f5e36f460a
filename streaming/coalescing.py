"""An answer's text on its way to the sockets: tokens gathered into delta frames.

The first text goes out as soon as it arrives; after each delta, the next waits until
the coalescing window has passed (coalesce_window(): DELTA_COALESCE_MS, wider under
load), gathering every token of that window: a frame's CPU cost hardly depends on its
size, and people cannot see a few tens of milliseconds. Each delta carries `seq`, the
count of deltas so far, by which clients find gaps and resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from django.conf import settings

from modelclient import netio
from realtime import events
from streaming.registry import registry

# How long before its next delta is due an answer reads what its upstream sent meanwhile
# (netio.ReadHold; a quarter of the window when that is shorter).
READ_LEAD_SECONDS = 0.005


def coalesce_window() -> float:
    """Seconds between two delta frames of one answer: DELTA_COALESCE_MS, widened when so
    many answers stream that their frames together would pass DELTA_FRAMES_PER_SECOND,
    at most DELTA_COALESCE_MAX_MS."""
    window: float = settings.DELTA_COALESCE_MS / 1000
    budget: int = settings.DELTA_FRAMES_PER_SECOND
    if budget > 0:
        shared = len(registry.running) / budget
        if shared > window:
            window = max(window, min(shared, settings.DELTA_COALESCE_MAX_MS / 1000))
    return window


class DeltaStream:
    """The text of one answer: what was sent as deltas 1..seq, and what waits for the next.

    `publish` sends a frame; `checkpoint` asks for the text to be saved (with_text False:
    only a heartbeat, while the upstream is silent), at most every CHECKPOINT_SECONDS.
    """

    def __init__(
        self,
        message_id: int,
        *,
        publish: Callable[[events.ServerFrame], Awaitable[None]],
        checkpoint: Callable[[bool], None],
    ) -> None:
        self.message_id = message_id
        self._publish = publish
        self._checkpoint = checkpoint
        self.sent: list[str] = []
        self.pending: list[str] = []
        # A reasoning model's thinking, gathered and sent the same way in the same deltas.
        self.reasoning_sent: list[str] = []
        self.reasoning_pending: list[str] = []
        self.seq = 0
        self.dirty = asyncio.Event()
        self._ended = asyncio.Event()  # the rounds are over: flush what is left now
        self._closing = False
        self._last_checkpoint = time.monotonic()
        # Loop time before which no delta is sent: the coalescing window runs from the
        # previous delta, so the first one goes out at once.
        self.next_flush = 0.0
        self.read_hold = netio.ReadHold()

    @property
    def text(self) -> str:
        return "".join(self.sent) + "".join(self.pending)

    def sent_text(self) -> str:
        return "".join(self.sent)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_sent) + "".join(self.reasoning_pending)

    def sent_reasoning(self) -> str:
        return "".join(self.reasoning_sent)

    def checkpoint_soon(self, *, with_text: bool) -> None:
        self._last_checkpoint = time.monotonic()
        self._checkpoint(with_text)

    async def run(self) -> None:
        """Send deltas as their windows end; heartbeat while silent; return once closed."""
        loop = asyncio.get_running_loop()
        heartbeat = max(1.0, settings.STREAM_STALE_SECONDS / 3)
        while not self._closing:
            if not self.dirty.is_set():
                try:
                    # asyncio.timeout, not wait_for: wait_for (3.11) wraps the wait in a
                    # new Task, once per delta frame of every answer.
                    async with asyncio.timeout(heartbeat):
                        await self.dirty.wait()
                except TimeoutError:
                    self.checkpoint_soon(with_text=False)
                    continue
            delay = self.next_flush - loop.time()
            if delay > 0 and not self._closing:
                # Until the window ends, or at once when the answer ends.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._ended.wait()
            await self.flush()

    def close(self) -> None:
        """The rounds are over: run() sends what is left and returns (cancelled mid-send,
        a delta would be lost after its seq was spent)."""
        self._closing = True
        self._ended.set()
        self.dirty.set()

    async def flush(self) -> None:
        text = "".join(self.pending)
        self.pending.clear()
        reasoning = "".join(self.reasoning_pending)
        self.reasoning_pending.clear()
        self.dirty.clear()
        if not text and not reasoning:
            return
        self.seq += 1
        if text:
            self.sent.append(text)
        if reasoning:
            self.reasoning_sent.append(reasoning)
        window = coalesce_window()
        self.next_flush = asyncio.get_running_loop().time() + window
        self.read_hold.until = self.next_flush - min(READ_LEAD_SECONDS, window / 4)
        await self._publish(events.delta_frame(self.message_id, self.seq, text, reasoning))
        # No checkpoint on the way out: the end, saved next, holds the whole text.
        if (
            not self._closing
            and time.monotonic() - self._last_checkpoint >= settings.CHECKPOINT_SECONDS
        ):
            self.checkpoint_soon(with_text=True)
