"""The usage ledger's daily rollup (catalog.rollup): the dashboard's figures read from it
are the raw ledger's (across a TIME_ZONE day boundary and DST), a day moves into it once
closed, fills write once, late and deleted rows reopen their day, and the dashboard's
queries do not grow with the ledger."""

from __future__ import annotations

import datetime as dt
import io
import random
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog import clock, dashboard, rollup, usage
from catalog.models import UsageDay, UsageDayDone, UsageRecord
from streaming import heartbeat

ZONE = "America/New_York"  # DST began on 2026-03-08: that day has 23 hours
NY = timezone.get_default_timezone  # (read after the settings fixture changed the zone)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    """A wall-clock time in New York."""
    return timezone.make_aware(dt.datetime(2026, month, day, hour, minute), NY())


def rows_between(first: dt.datetime, last: dt.datetime, count: int, seed: int = 7) -> None:
    """`count` ledger rows at random moments of [first, last), as the writers make them."""
    rng = random.Random(seed)
    span = (last - first).total_seconds()
    UsageRecord.objects.bulk_create(
        [
            UsageRecord(
                username=rng.choice(["alice", "bob", "carol"]),
                user_id=None,
                provider="p",
                model=rng.choice(["gpt-4o", "llama", "mistral"]),
                kind=rng.choice(["answer", "api", "title", "continuation"]),
                outcome="done",
                total_tokens=rng.randrange(0, 5000),
                cost=rng.choice([None, Decimal(rng.randrange(0, 10**7)) / 10**8]),
                created_at=first + dt.timedelta(seconds=rng.random() * span),
            )
            for _ in range(count)
        ]
    )


def raw_by_day(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The figures as the dashboard computed them before the rollup: the raw ledger."""
    days = []
    for n in range((end - start).days + 1):
        day = start + dt.timedelta(days=n)
        figures = dashboard.ledger(day, day).aggregate(**rollup.AGGREGATES)
        days.append(dashboard._clean({"day": day, **figures}))
    return days


def raw_by_key(start: dt.date, end: dt.date, key: str) -> list[dict[str, Any]]:
    rows = dashboard.ledger(start, end).values(key).annotate(**rollup.AGGREGATES)
    return sorted(
        map(dashboard._clean, rows), key=lambda r: (-r["spent"], -r["tokens"], str(r[key]))
    )


def figures(start: dt.date, end: dt.date) -> tuple[list[Any], list[Any], list[Any]]:
    return (
        dashboard.by_day(start, end),
        dashboard.by_key(start, end, "model"),
        dashboard.by_key(start, end, "username"),
    )


def raw(start: dt.date, end: dt.date) -> tuple[list[Any], list[Any], list[Any]]:
    return (
        raw_by_day(start, end),
        raw_by_key(start, end, "model"),
        raw_by_key(start, end, "username"),
    )


@pytest.fixture
def new_york(settings):
    settings.TIME_ZONE = ZONE


@pytest.mark.django_db
def test_the_figures_from_the_rollup_are_the_raw_ledgers_across_dst(new_york):
    rows_between(at(5, 22), at(11, 3), 600)  # 2026-03-05 22:00 to 03-11 03:00, New York
    start, end = dt.date(2026, 3, 5), dt.date(2026, 3, 11)
    with clock.frozen(at(10, 12)):  # 03-05..03-09 closed, 03-10 today, 03-11 to come
        expected = raw(start, end)
        assert sum(day["requests"] for day in expected[0]) == 600
        assert figures(start, end) == expected  # cold: rolled up on the way
        assert sorted(UsageDayDone.objects.values_list("day", flat=True)) == [
            dt.date(2026, 3, d) for d in range(5, 10)
        ]
        rolled = UsageDay.objects.filter(day=dt.date(2026, 3, 8))
        assert sum(r.requests for r in rolled) == expected[0][3]["requests"] > 0
        assert figures(start, end) == expected  # warm: read from it
        # A period of closed days only, and one of open days only.
        assert figures(start, dt.date(2026, 3, 7)) == raw(start, dt.date(2026, 3, 7))
        assert figures(dt.date(2026, 3, 10), end) == raw(dt.date(2026, 3, 10), end)
    # The DST day's bounds: 23 hours, its rows all in.
    since, until = rollup.bounds(dt.date(2026, 3, 8), dt.date(2026, 3, 8))
    assert until.astimezone(dt.UTC) - since.astimezone(dt.UTC) == dt.timedelta(hours=23)


@pytest.mark.django_db
def test_a_day_moves_into_the_rollup_once_closed_past_the_grace(new_york):
    rows_between(at(9, 23), at(9, 23, 50), 50)
    day = dt.date(2026, 3, 9)
    with clock.frozen(at(9, 23, 55)) as frozen:
        expected = raw(day, day)
        assert figures(day, day) == expected
        assert not UsageDayDone.objects.exists()  # today: read from the ledger
        frozen.set(at(10, 0, 10))  # past midnight, within the grace: still open
        assert figures(day, day) == expected
        assert not UsageDayDone.objects.exists()
        frozen.set(at(10, 0) + rollup.GRACE)
        assert figures(day, day) == expected
        assert list(UsageDayDone.objects.values_list("day", "zone")) == [(day, ZONE)]
        UsageRecord.objects.all().delete()  # as the admin's "delete selected" does
        assert not UsageDayDone.objects.exists()  # the deletes reopened the day
        assert dashboard.by_day(day, day)[0]["requests"] == 0


@pytest.mark.django_db
def test_a_closed_days_figures_come_from_the_rollup_alone(new_york):
    rows_between(at(8, 1), at(8, 20), 40)
    day = dt.date(2026, 3, 8)
    with clock.frozen(at(10, 12)):
        expected = dashboard.by_day(day, day)
        # Behind the ORM's back (no signal): the rollup keeps answering.
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {UsageRecord._meta.db_table}")
        assert dashboard.by_day(day, day) == expected
        assert expected[0]["requests"] == 40


@pytest.mark.django_db
def test_repeated_fills_write_once(new_york):
    rows_between(at(1, 0), at(9, 0), 200)
    with clock.frozen(at(10, 12)):
        assert rollup.ensure(dt.date(2026, 3, 1), dt.date(2026, 3, 10)) == 9  # 03-10 is open
        count = UsageDay.objects.count()
        with CaptureQueriesContext(connection) as queries:
            assert rollup.ensure(dt.date(2026, 3, 1), dt.date(2026, 3, 10)) == 0
        assert len(queries) == 1
        assert UsageDay.objects.count() == count
        assert UsageDayDone.objects.count() == 9


@pytest.mark.django_db(transaction=True)
def test_concurrent_fills_write_each_day_once(new_york):
    """Real concurrent fills, each thread on its own database connection."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself (IMMEDIATE); the race is PostgreSQL's")
    rows_between(at(1, 0), at(9, 0), 300)
    with clock.frozen(at(10, 12)):
        expected = raw(dt.date(2026, 3, 1), dt.date(2026, 3, 9))
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def fill() -> None:
            try:
                barrier.wait()
                rollup.ensure(dt.date(2026, 3, 1), dt.date(2026, 3, 9))
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=fill) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        assert UsageDayDone.objects.count() == 9
        assert figures(dt.date(2026, 3, 1), dt.date(2026, 3, 9)) == expected


@pytest.mark.django_db
def test_a_late_row_of_a_closed_day_reopens_it(new_york, alice):
    rows_between(at(8, 1), at(8, 20), 30)
    day = dt.date(2026, 3, 8)
    with clock.frozen(at(8, 18)):  # an answer's end, kept through an outage
        late = usage.entry(
            user_id=alice.pk, username="alice", provider="p", model="gpt-4o", kind="answer",
            outcome="done", prompt_tokens=10, completion_tokens=5, estimated=False,
        )  # fmt: skip
    with clock.frozen(at(10, 12)):
        before = dashboard.by_day(day, day)[0]
        assert UsageDayDone.objects.filter(day=day).exists()
        usage.record_all([late])  # written two days later (streaming.spill)
        assert not UsageDayDone.objects.filter(day=day).exists()
        assert not UsageDay.objects.filter(day=day).exists()
        after = dashboard.by_day(day, day)[0]
        assert after["requests"] == before["requests"] + 1
        assert after["tokens"] == before["tokens"] + 15
        assert [after] == raw_by_day(day, day)
        # A row of today leaves the closed days alone.
        usage.record(
            user_id=alice.pk, username="alice", provider="p", model="gpt-4o", kind="answer",
            outcome="done", prompt_tokens=1, completion_tokens=1, estimated=False,
        )  # fmt: skip
        assert UsageDayDone.objects.filter(day=day).exists()


@pytest.mark.django_db
def test_a_change_of_time_zone_rolls_the_days_up_again(new_york, settings):
    rows_between(at(5, 0), at(9, 0), 200)
    start, end = dt.date(2026, 3, 4), dt.date(2026, 3, 8)
    with clock.frozen(at(10, 12)):
        figures(start, end)
        settings.TIME_ZONE = "Asia/Shanghai"
        assert figures(start, end) == raw(start, end)
        assert set(UsageDayDone.objects.values_list("zone", flat=True)) == {"Asia/Shanghai"}


@pytest.mark.django_db
def test_the_dashboards_queries_do_not_grow_with_the_ledger(new_york, admin_client):
    params = {"start": "2026-03-01", "end": "2026-03-10"}
    url = reverse("admin:catalog_usagerecord_dashboard")
    counts = []
    with clock.frozen(at(10, 12)):
        for rows, seed in ((50, 1), (2000, 2)):
            rows_between(at(1, 0), at(10, 11), rows, seed=seed)
            rollup.rebuild(dt.date(2026, 3, 1), dt.date(2026, 3, 10))
            with CaptureQueriesContext(connection) as queries:
                response = admin_client.get(url, params)
            assert response.status_code == 200
            counts.append(len(queries))
        # Nor with the days of the period (once they are rolled up).
        rollup.ensure(dt.date(2026, 1, 1), dt.date(2026, 3, 10))
        with CaptureQueriesContext(connection) as queries:
            assert (
                admin_client.get(url, {"start": "2026-01-01", "end": "2026-03-10"}).status_code
                == 200
            )
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2]


@pytest.mark.django_db
def test_the_command_rolls_up_and_rebuilds(new_york):
    rows_between(at(1, 0), at(9, 0), 100)
    out = io.StringIO()
    with clock.frozen(at(10, 12)):
        call_command("usage_rollup", "--days", "5", stdout=out)
        assert "Rolled up 5 days (2026-03-05 to 2026-03-09)." in out.getvalue()
        UsageDay.objects.filter(day=dt.date(2026, 3, 6)).update(tokens=0)  # gone wrong
        call_command("usage_rollup", "--start", "2026-03-06", "--end", "2026-03-06",
                     "--rebuild", stdout=out)  # fmt: skip
        assert "Rolled up 1 day (2026-03-06 to 2026-03-06)." in out.getvalue()
        day = dt.date(2026, 3, 6)
        assert dashboard.by_day(day, day) == raw_by_day(day, day)
        with pytest.raises(Exception, match="before the start"):
            call_command("usage_rollup", "--start", "2026-03-06", "--end", "2026-03-01")


@pytest.mark.django_db
def test_the_heartbeat_warms_the_latest_days_first_a_few_at_a_time(new_york):
    with clock.frozen(at(10, 12)):
        assert heartbeat.warm_usage_rollup() == rollup.WARM_BATCH
        done = sorted(UsageDayDone.objects.values_list("day", flat=True))
        assert done[-1] == dt.date(2026, 3, 9)
        assert len(done) == rollup.WARM_BATCH
        while heartbeat.warm_usage_rollup():
            pass
        assert UsageDayDone.objects.count() == rollup.WARM_DAYS
        with CaptureQueriesContext(connection) as queries:
            assert heartbeat.warm_usage_rollup() == 0
        assert len(queries) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("when", [at(8, 12), at(10, 11)], ids=["rolled-up", "today"])
def test_costs_add_up_to_the_ledgers_eight_places(new_york, when):
    """SQLite keeps decimals as floats: its SUM of 0.1 and 0.2 is 0.30000000000000004."""
    for cost in ("0.1", "0.2"):
        UsageRecord.objects.create(
            username="alice", provider="p", model="m", kind="answer", outcome="done",
            cost=Decimal(cost), created_at=when,
        )  # fmt: skip
    day = when.astimezone(NY()).date()
    with clock.frozen(at(10, 12)):
        (spent,) = [row["spent"] for row in dashboard.by_day(day, day)]
        (by_model,) = dashboard.by_key(day, day, "model")
    assert str(spent) == str(by_model["spent"]) == "0.30000000"
