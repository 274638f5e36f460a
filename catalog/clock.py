"""The one clock that quotas and the usage ledger read, so tests can stop time.

`now()` is django.utils.timezone.now() unless a test froze it with `frozen()`. A seam of
a few lines instead of freezegun: only quota windows and ledger timestamps need it, and
patching every datetime in the process would also freeze the asyncio and database code
the tests exercise for real.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from django.utils import timezone

_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    return _frozen if _frozen is not None else timezone.now()


@contextlib.contextmanager
def frozen(at: dt.datetime) -> Iterator[FrozenClock]:
    """Freeze now() at `at` (timezone-aware) until the block ends; .set() moves it."""
    global _frozen
    previous = _frozen
    clock = FrozenClock()
    clock.set(at)
    try:
        yield clock
    finally:
        _frozen = previous


class FrozenClock:
    def set(self, at: dt.datetime) -> None:
        global _frozen
        if timezone.is_naive(at):
            raise ValueError("The frozen clock needs a timezone-aware datetime.")
        _frozen = at

    def advance(self, **delta: float) -> None:
        self.set(now() + dt.timedelta(**delta))
