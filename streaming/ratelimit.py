"""What one socket may ask for: frames at a rate (a token bucket), and snapshots one at a
time, at most one per interval (docs/security.md)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens a second, bursts of `burst`; a rate of 0 or less lets everything by.

    `refused` counts the takes refused in a row (the caller warns once, then closes).
    """

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.clock = clock
        self.refill_at = clock()
        self.refused = 0

    def take(self) -> bool:
        if self.rate <= 0:
            return True
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.refill_at) * self.rate)
        self.refill_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused = 0
            return True
        self.refused += 1
        return False


class SnapshotPacer:
    """Coalesces `sync` requests: one snapshot outstanding, at most one per `interval`.

    A snapshot is the whole text so far, so a client that asks faster than it reads
    would make the server buffer one per request.
    """

    def __init__(
        self, interval: float, wait: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.wait = wait  # how long a snapshot requested of another process may take
        self.clock = clock
        self.last_at = -1e9
        self.due_until = 0.0

    def outstanding(self) -> bool:
        """A snapshot is on its way: it answers this request too."""
        return self.clock() < self.due_until

    def delay(self) -> float:
        """Seconds until a snapshot may be requested (0: now)."""
        return max(0.0, self.last_at + self.interval - self.clock())

    def requested(self) -> None:
        self.last_at = self.clock()

    def awaiting(self) -> None:
        """The snapshot was asked of the process running the answer: it is on its way."""
        self.due_until = self.last_at + self.wait

    def arrived(self) -> None:
        self.due_until = 0.0
