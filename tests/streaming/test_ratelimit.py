"""A socket's limits with an injected clock: counts and order, never the machine's speed."""

from __future__ import annotations

from streaming.ratelimit import SnapshotPacer, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_lets_a_burst_by_then_refills_at_its_rate():
    clock = Clock()
    bucket = TokenBucket(10, 20, clock=clock)
    assert [bucket.take() for _ in range(21)] == [True] * 20 + [False]
    assert bucket.refused == 1
    clock.now += 0.5  # five tokens back
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    assert bucket.refused == 1  # a take that passed reset the run


def test_a_bucket_counts_refusals_in_a_row():
    bucket = TokenBucket(1, 1, clock=Clock())
    assert bucket.take()
    assert not bucket.take()
    assert not bucket.take()
    assert bucket.refused == 2


def test_a_rate_of_zero_lets_everything_by():
    bucket = TokenBucket(0, 0, clock=Clock())
    assert all(bucket.take() for _ in range(1000))


def test_snapshots_go_one_per_interval_and_one_outstanding():
    clock = Clock()
    pacer = SnapshotPacer(0.5, 3.0, clock=clock)
    assert pacer.delay() == 0
    assert not pacer.outstanding()
    pacer.requested()
    assert pacer.delay() == 0.5
    pacer.awaiting()  # asked of another process: on its way for up to 3 s
    clock.now += 1
    assert pacer.outstanding()
    assert pacer.delay() == 0
    pacer.arrived()
    assert not pacer.outstanding()
    clock.now += 0.1
    pacer.requested()
    clock.now += 3.5
    assert not pacer.outstanding()  # answered from the database: nothing on its way
