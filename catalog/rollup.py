"""The usage ledger rolled up per closed day, model and username (UsageDay), so the admin's
dashboard reads a few rows per day instead of every request of the period.

Only closed days are rolled up: a day in TIME_ZONE whose end is more than GRACE past. The
ledger is written with created_at = now (usage.entry) and never updated, so a closed day's
rows do not change; GRACE covers a row made just before midnight whose transaction
commits just after. Two paths write older rows, and both reopen the days they touch:
usage.record()/record_all() of a row whose day is already closed (an answer's end kept
through a database outage: streaming.spill, ending's retries) and the deletion of ledger
rows (the admin), through a post_delete receiver (catalog.apps). Filling and reopening
take one lock (PostgreSQL: a transaction-level advisory lock; SQLite's transactions are
IMMEDIATE, so writers already run one at a time), so a fill never misses a late row.

Filled lazily (ensure(): the dashboard's period), warmed by the heartbeat (warm()) and by
`manage.py usage_rollup` (with --rebuild to recompute a range).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from catalog import clock
from catalog.models import UsageDay, UsageDayDone, UsageRecord

GRACE = dt.timedelta(minutes=15)
WARM_DAYS = 62  # the heartbeat keeps this month's and last month's days rolled up
WARM_BATCH = 7  # days rolled up per heartbeat call at most (a fresh install catches up)
LOCK_KEY = 0x75736167  # "usag": the advisory lock of fills and reopenings (PostgreSQL)
ANSWER_KINDS = (UsageRecord.Kind.ANSWER, UsageRecord.Kind.API)
AGGREGATES = {
    "answers": Count("id", filter=Q(kind__in=ANSWER_KINDS)),
    "requests": Count("id"),
    "tokens": Sum("total_tokens"),
    "spent": Sum("cost"),
}


def zone_name() -> str:
    return str(timezone.get_default_timezone())


def bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The first moment of `start` and the first after `end`, in TIME_ZONE (exact across
    DST changes)."""
    zone = timezone.get_default_timezone()
    return (
        timezone.make_aware(dt.datetime.combine(start, dt.time()), zone),
        timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()), zone),
    )


def local_day(at: dt.datetime) -> dt.date:
    return timezone.localtime(at, timezone.get_default_timezone()).date()


def first_open_day(now: dt.datetime | None = None) -> dt.date:
    """The first day that is not closed at `now`: today, or yesterday within GRACE of
    midnight."""
    return local_day((now or clock.now()) - GRACE)


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def _lock() -> None:
    """Serialise fills and reopenings until the transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def _done(days: list[dt.date]) -> set[dt.date]:
    if not days:
        return set()
    return set(
        UsageDayDone.objects.filter(
            day__gte=days[0], day__lte=days[-1], zone=zone_name()
        ).values_list("day", flat=True)
    )


def ensure(start: dt.date, end: dt.date, *, limit: int | None = None) -> int:
    """Roll up the closed days of [start, end] not rolled up yet (the latest first, at
    most `limit`), in one transaction; how many. One query when there are none."""
    last = min(end, first_open_day() - dt.timedelta(days=1))
    days = _days(start, last) if start <= last else []
    done = _done(days)
    missing = [day for day in days if day not in done]
    if not missing:
        return 0
    with transaction.atomic():
        _lock()
        done = _done(days)  # again under the lock: another process may have filled some
        missing = sorted((day for day in missing if day not in done), reverse=True)[:limit]
        for day in missing:
            _fill(day)
    return len(missing)


def _fill(day: dt.date) -> None:
    """One GROUP BY (model, username) over the day's range of the created_at index."""
    since, until = bounds(day, day)
    UsageDay.objects.filter(day=day).delete()  # left by a day rolled up in another zone
    UsageDayDone.objects.filter(day=day).delete()
    rows = (
        UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until)
        .order_by()
        .values("model", "username")
        .annotate(**AGGREGATES)
    )
    UsageDay.objects.bulk_create(
        [
            UsageDay(
                day=day,
                model=row["model"],
                username=row["username"],
                answers=row["answers"],
                requests=row["requests"],
                tokens=row["tokens"] or 0,
                spent=row["spent"] or 0,
            )
            for row in rows
        ],
        batch_size=1000,
    )
    UsageDayDone.objects.create(day=day, zone=zone_name(), rolled_at=clock.now())


def reopen(days: Iterable[dt.date]) -> None:
    """Forget the rollup of `days` (their ledger changed): the next read rolls them up
    again. In the caller's transaction when there is one."""
    days = sorted(set(days))
    if not days:
        return
    with transaction.atomic():
        _lock()
        UsageDay.objects.filter(day__in=days).delete()
        UsageDayDone.objects.filter(day__in=days).delete()


def reopen_late(rows: Iterable[UsageRecord]) -> None:
    """After writing ledger rows: reopen the closed days among theirs (none, normally)."""
    first_open = first_open_day()
    reopen(day for row in rows if (day := local_day(row.created_at)) < first_open)


def on_delete(sender: type[UsageRecord], instance: UsageRecord, **kwargs: object) -> None:
    """post_delete of a ledger row: its day is rolled up again when next read."""
    reopen_late([instance])


def rebuild(start: dt.date, end: dt.date) -> int:
    """Roll the closed days of [start, end] up again from the ledger; how many."""
    with transaction.atomic():
        reopen(_days(start, end))
        return ensure(start, end)


def warm() -> int:
    """Yesterday and the missing days of the last WARM_DAYS, WARM_BATCH at most (the
    heartbeat, every few minutes: one query once they are done)."""
    last = first_open_day() - dt.timedelta(days=1)
    return ensure(last - dt.timedelta(days=WARM_DAYS - 1), last, limit=WARM_BATCH)
