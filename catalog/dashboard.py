"""The usage dashboard (admin): answers, tokens and cost per day, per model and per user
over a chosen period, as server-rendered SVG bar charts with a table beside each, and CSV.

Every figure is aggregated in the database (an aggregate per day, and a GROUP BY per model
and per user, over the period's rows, which the created_at index selects), never by
loading the ledger: it stays fast on a
ledger of a million rows (bench: the `dashboard` page timing). Days are calendar days in
TIME_ZONE, as the quota windows are.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from catalog import clock, costs
from catalog.models import UsageRecord

MAX_DAYS = 366
ANSWER_KINDS = (UsageRecord.Kind.ANSWER, UsageRecord.Kind.API)
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


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = timezone.get_default_timezone()
    return (
        timezone.make_aware(dt.datetime.combine(start, dt.time()), zone),
        timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()), zone),
    )


def ledger(start: dt.date, end: dt.date) -> QuerySet[UsageRecord]:
    since, until = _bounds(start, end)
    return UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until).order_by()


AGGREGATES = {
    "answers": Count("id", filter=Q(kind__in=ANSWER_KINDS)),
    "requests": Count("id"),
    "tokens": Sum("total_tokens"),
    "spent": Sum("cost"),
}


def _figures(queryset: QuerySet[Any], key: str) -> list[dict[str, Any]]:
    return list(queryset.values(key).annotate(**AGGREGATES))


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "tokens": int(row["tokens"] or 0),
        "spent": Decimal(row["spent"] or 0),
    }


def by_day(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Every day of the period (a day with no request: zeros), oldest first.

    One aggregate per day over its range of the created_at index, the day's bounds in
    TIME_ZONE computed here (exact across DST changes). Not a GROUP BY on the local date:
    SQLite converts each row's time zone in Python, about 10 us a row (seconds on a
    million rows); this costs a query per day instead (366 at most), on PostgreSQL too,
    where it measured no slower than the GROUP BY (docs/architecture.md)."""
    days = []
    for offset in range((end - start).days + 1):
        day = start + dt.timedelta(days=offset)
        since, until = _bounds(day, day)
        figures = (
            UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until)
            .order_by()
            .aggregate(**AGGREGATES)
        )
        days.append(_clean({"day": day, **figures}))
    return days


def by_key(start: dt.date, end: dt.date, key: str) -> list[dict[str, Any]]:
    """Per model or per user (username): the costliest first, then the most tokens."""
    rows = [_clean(row) for row in _figures(ledger(start, end), key)]
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
    from catalog.usage_admin import _cell

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
            [_cell(label), row["answers"], row["requests"], row["tokens"], f"{row['spent']:.8f}"]
        )
    return response
