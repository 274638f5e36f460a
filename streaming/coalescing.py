"""An answer's text on its way to the sockets: tokens gathered into delta frames.

The first text goes out as soon as it arrives; after each delta, the next waits until
the coalescing window has passed (coalesce_window(): DELTA_COALESCE_MS, wider under
load), gathering every token of that window: a frame's CPU cost hardly depends on its
size, and people cannot see a few tens of milliseconds. Each delta carries `seq`, the
count of deltas so far, by which clients find gaps and resume.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from django.conf import settings

from chatweb import prometheus
from modelclient import netio
from realtime import events
from streaming.registry import registry


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
    The reader of the upstream appends to `pending` (or `reasoning_pending`) and calls
    `notify()`.

    One frame costs one wake-up of run(): it sleeps until the window ends (tokens arriving
    meanwhile wake nothing: they are gathered), or, with nothing pending, until notify()
    brings the first token. The heartbeat is one timer that re-arms itself, not a timeout
    around every wait (an asyncio.timeout per frame and an Event.set per token were 5-10 %
    of the process at 50 concurrent answers: py-spy, bench c50, issue 19).
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
        self._closing = False
        self._last_checkpoint = time.monotonic()
        # What run() waits on: a window's end or close() (_sleeping), or the next token
        # (_waiting_for_tokens, resolved by notify() too).
        self._sleeping: asyncio.Future[None] | None = None
        self._waiting_for_tokens: asyncio.Future[None] | None = None
        # Loop time before which no delta is sent: the coalescing window runs from the
        # previous delta, so the first one goes out at once.
        self.next_flush = 0.0
        self.read_hold = netio.ReadHold()
        # Loop time of the last delta (or of the start, or of the last heartbeat).
        self._quiet_since = 0.0
        self._heartbeat: asyncio.TimerHandle | None = None
        self.started = time.monotonic()  # for the time to the first delta

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

    def notify(self) -> None:
        """Text was appended to pending: wakes run() if it waits for the first token."""
        waiter = self._waiting_for_tokens
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self) -> None:
        """Send deltas as their windows end; heartbeat while silent; return once closed."""
        loop = asyncio.get_running_loop()
        every = max(1.0, settings.STREAM_STALE_SECONDS / 3)
        self._quiet_since = loop.time()
        self._heartbeat = loop.call_later(every, self._beat, loop, every)
        try:
            while not self._closing:
                if not (self.pending or self.reasoning_pending):
                    waiter = self._waiting_for_tokens = loop.create_future()
                    try:
                        await waiter
                    finally:
                        self._waiting_for_tokens = None
                    continue
                if self.next_flush > loop.time():
                    # Until the window ends, or at once when the answer ends.
                    sleeping = self._sleeping = loop.create_future()
                    wake = loop.call_at(self.next_flush, _resolve, sleeping)
                    try:
                        await sleeping
                    finally:
                        self._sleeping = None
                        wake.cancel()
                await self.flush()
        finally:
            self._heartbeat.cancel()

    def _beat(self, loop: asyncio.AbstractEventLoop, every: float) -> None:
        """The heartbeat timer: a checkpoint without text after `every` seconds without a
        delta (the upstream is silent), then again every `every` seconds."""
        if self._closing:
            return
        now = loop.time()
        if now - self._quiet_since >= every and not (self.pending or self.reasoning_pending):
            self._quiet_since = now
            self.checkpoint_soon(with_text=False)
        # The next one `every` after the last delta or heartbeat (tokens pending: a delta
        # is on its way, so `every` from now).
        when = self._quiet_since + every
        self._heartbeat = loop.call_at(when if when > now else now + every, self._beat, loop, every)

    def close(self) -> None:
        """The rounds are over: run() sends what is left and returns (cancelled mid-send,
        a delta would be lost after its seq was spent)."""
        self._closing = True
        for waiter in (self._sleeping, self._waiting_for_tokens):
            if waiter is not None:
                _resolve(waiter)

    async def flush(self) -> None:
        text = "".join(self.pending)
        self.pending.clear()
        reasoning = "".join(self.reasoning_pending)
        self.reasoning_pending.clear()
        if not text and not reasoning:
            return
        self.seq += 1
        if text:
            self.sent.append(text)
        if reasoning:
            self.reasoning_sent.append(reasoning)
        window = coalesce_window()
        loop_time = asyncio.get_running_loop().time()
        self._quiet_since = loop_time
        self.next_flush = loop_time + window
        # The reader gathers what its upstream sends until the next delta is due
        # (netio.ReadHold), and wakes then with all of it. Waking it earlier (5 ms
        # before, until issue 19) cost each frame a second wake-up of run().
        self.read_hold.until = self.next_flush
        await self._publish(events.delta_frame(self.message_id, self.seq, text, reasoning))
        if self.seq == 1:
            prometheus.first_token("answer", time.monotonic() - self.started)
        # No checkpoint on the way out: the end, saved next, holds the whole text.
        if (
            not self._closing
            and time.monotonic() - self._last_checkpoint >= settings.CHECKPOINT_SECONDS
        ):
            self.checkpoint_soon(with_text=True)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
