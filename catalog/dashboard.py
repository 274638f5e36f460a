"""The usage dashboard (admin): answers, tokens and cost per day, per model and per user
over a chosen period, as server-rendered SVG bar charts with a table beside each, and CSV.

Every figure is aggregated in the database, never by loading the ledger: the closed days
from their rollup (catalog.rollup: a row per day, model and user), today (and yesterday
just after midnight) from the ledger's rows, which the created_at index selects. So it
stays fast on a ledger of a million rows (bench: the `dashboard` page timing). Days are
calendar days in TIME_ZONE, as the quota windows are.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from catalog import clock, costs, rollup
from catalog.models import UsageDay, UsageRecord
from chatweb.csvcells import cell

MAX_DAYS = 366
ISO_DATE = {"type": "date"}
CHART_ROWS = 15  # bars in a per-model or per-user chart (the table and CSV have them all)


class PeriodForm(forms.Form):
    # A date input's value is ISO whatever the language (the browser shows it localised).
    start = forms.DateField(label=_("From"), widget=forms.DateInput(ISO_DATE, format="%Y-%m-%d"))
    end = forms.DateField(label=_("To"), widget=forms.DateInput(ISO_DATE, format="%Y-%m-%d"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError(gettext("The end date is before the start date."))
            if (end - start).days >= MAX_DAYS:
                raise forms.ValidationError(
                    gettext("Choose a period of at most %(days)s days.") % {"days": MAX_DAYS}
                )
        return data


def default_period() -> tuple[dt.date, dt.date]:
    """This month so far, in TIME_ZONE."""
    today = timezone.localtime(clock.now(), timezone.get_default_timezone()).date()
    return today.replace(day=1), today


def ledger(start: dt.date, end: dt.date) -> QuerySet[UsageRecord]:
    since, until = rollup.bounds(start, end)
    return UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until).order_by()


AGGREGATES = rollup.AGGREGATES
# The same figures summed over the rollup's rows.
SUMS = {name: Sum(name) for name in AGGREGATES}
EMPTY: dict[str, Any] = {"answers": 0, "requests": 0, "tokens": None, "spent": None}


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    # To the ledger's 8 places: SQLite keeps decimals as floats, so its SUM carries float
    # noise beyond them (66.3859437500001 for 66.38594375).
    return {
        **row,
        "tokens": int(row["tokens"] or 0),
        "spent": Decimal(row["spent"] or 0).quantize(costs.STORED),
    }


def _split(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period's closed days come from the rollup (rolled up here if need be), up to
    the first returned day; the open ones (today, yesterday within rollup.GRACE, and any
    later ones) from the ledger, from the second."""
    rollup.ensure(start, end)
    first_open = max(start, rollup.first_open_day())
    return min(end, first_open - dt.timedelta(days=1)), first_open


def by_day(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Every day of the period (a day with no request: zeros), oldest first.

    Closed days: one GROUP BY day over the rollup (catalog.rollup). Open days: an
    aggregate per day over its range of the created_at index, the day's bounds in
    TIME_ZONE computed here (exact across DST changes); not a GROUP BY on the local date,
    which SQLite computes in Python for each row. So the queries do not grow with the
    ledger, nor with the days (docs/architecture.md)."""
    last_closed, first_open = _split(start, end)
    figures: dict[dt.date, dict[str, Any]] = {}
    if start <= last_closed:
        rolled = UsageDay.objects.filter(day__gte=start, day__lte=last_closed).order_by()
        figures.update((row.pop("day"), row) for row in rolled.values("day").annotate(**SUMS))
    if first_open <= end:
        figures.update(_live_days(first_open, end))
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    return [_clean({"day": day, **figures.get(day, EMPTY)}) for day in days]


def _live_days(start: dt.date, end: dt.date) -> dict[dt.date, dict[str, Any]]:
    """The open days' figures from the ledger: an aggregate for each day begun (one or
    two), one for the days to come (empty unless another server's clock runs ahead)."""
    now = clock.now()
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    begun = [day for day in days if rollup.bounds(day, day)[0] <= now]
    later = days[len(begun) :]
    if later and not ledger(later[0], later[-1]).exists():
        later = []
    return {day: ledger(day, day).aggregate(**AGGREGATES) for day in begun + later}


def by_key(start: dt.date, end: dt.date, key: str) -> list[dict[str, Any]]:
    """Per model or per user (username): the costliest first, then the most tokens. The
    rollup's GROUP BY over the closed days, the ledger's over the open ones, added up."""
    last_closed, first_open = _split(start, end)
    parts: list[dict[str, Any]] = []
    if start <= last_closed:
        rolled = UsageDay.objects.filter(day__gte=start, day__lte=last_closed).order_by()
        parts += rolled.values(key).annotate(**SUMS)
    if first_open <= end:
        parts += ledger(first_open, end).values(key).annotate(**AGGREGATES)
    merged: dict[str, dict[str, Any]] = {}
    for part in map(_clean, parts):
        row = merged.setdefault(part[key], {key: part[key], **_clean(EMPTY)})
        for name in AGGREGATES:
            row[name] += part[name]
    rows = list(merged.values())
    return sorted(rows, key=lambda r: (-r["spent"], -r["tokens"], str(r[key])))


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "answers": sum(r["answers"] for r in rows),
        "requests": sum(r["requests"] for r in rows),
        "tokens": sum(r["tokens"] for r in rows),
        "spent": sum((r["spent"] for r in rows), start=Decimal(0)),
    }


# --- Charts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str

    @property
    def end(self) -> float:
        return self.x + self.width


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart's geometry (admin/catalog/usagerecord/_chart.html draws it)."""

    id: str
    title: str
    width: int
    height: int
    bars: list[Bar]
    horizontal: bool
    axis_label: str  # the largest value, shown at the scale's end


def column_chart(chart_id: str, title: str, days: list[dict[str, Any]], field: str) -> Chart:
    """One column per day; the label of every few days under the axis."""
    width, height, top, bottom = 640, 180, 16, 24
    values = [_number(day[field]) for day in days]
    peak = max(values, default=0) or 1
    step = (width - 8) / max(1, len(days))
    every = max(1, round(len(days) / 8))
    bars = [
        Bar(
            x=4 + index * step,
            y=top + (height - top - bottom) * (1 - value / peak),
            width=max(1.0, step * 0.8),
            height=(height - top - bottom) * value / peak,
            label=day["day"].strftime("%m-%d") if index % every == 0 else "",
            value=_shown(day[field], field),
        )
        for index, (day, value) in enumerate(zip(days, values, strict=True))
    ]
    return Chart(chart_id, title, width, height, bars, False, _shown(max(values, default=0), field))


def bar_chart(chart_id: str, title: str, rows: list[dict[str, Any]], key: str, field: str) -> Chart:
    """One horizontal bar per model or user (the first CHART_ROWS)."""
    shown = sorted(rows, key=lambda r: -_number(r[field]))[:CHART_ROWS]
    width, row_height, label_width = 640, 22, 180
    values = [_number(row[field]) for row in shown]
    peak = max(values, default=0) or 1
    bars = [
        Bar(
            x=label_width,
            y=index * row_height + 4,
            width=(width - label_width - 90) * value / peak,
            height=row_height - 6,
            label=str(row[key] or "-")[:28],
            value=_shown(row[field], field),
        )
        for index, (row, value) in enumerate(zip(shown, values, strict=True))
    ]
    height = max(1, len(bars)) * row_height + 8
    return Chart(chart_id, title, width, height, bars, True, _shown(max(values, default=0), field))


def _number(value: Any) -> float:
    return float(value or 0)


def _shown(value: Any, field: str) -> str:
    if field == "spent":
        return costs.amount(Decimal(value or 0))
    return f"{int(value or 0):,}"


# --- CSV ----------------------------------------------------------------------------------

CSV_VIEWS = ("day", "model", "user")


def csv_response(start: dt.date, end: dt.date, view: str) -> HttpResponse:
    """The figures of one table as CSV: per day, per model or per user."""

    key = {"day": "day", "model": "model", "user": "username"}[view]
    rows = by_day(start, end) if view == "day" else by_key(start, end, key)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"chatweb-usage-by-{view}-{start:%Y%m%d}-{end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow([key, "answers", "requests", "tokens", f"cost_{settings.CURRENCY}"])
    for row in rows:
        label = row[key].isoformat() if view == "day" else row[key]
        writer.writerow(
            [cell(label), row["answers"], row["requests"], row["tokens"], f"{row['spent']:.8f}"]
        )
    return response
