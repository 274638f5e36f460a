"""The admin's landing page: how today went (templates/admin/index.html shows it).

Four queries whatever the traffic: answers by status, failed answers by error code, the
busiest models, and the providers with their last connection check (catalog.probe
stores it). "Today" is the calendar day in TIME_ZONE, as the usage ledger counts it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from catalog import usage
from catalog.models import Provider
from conversations.models import Message

BUSIEST_MODELS = 5


@dataclass(frozen=True)
class Row:
    """A label and how many."""

    label: str
    count: int
    # The stored value behind the label (a status, a code), for links and tests.
    key: str = ""


@dataclass(frozen=True)
class Today:
    since: dt.datetime
    answers: int
    by_status: list[Row]
    errors_by_code: list[Row]
    busiest_models: list[Row]
    providers: list[Provider]


def _answers(since: dt.datetime) -> QuerySet[Message]:
    return Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=since).order_by()


def today(at: dt.datetime | None = None) -> Today:
    since = usage.day_start(at)
    answers = _answers(since)
    statuses = dict(Message.Status.choices)
    by_status = [
        Row(str(statuses.get(row["status"], row["status"])), row["n"], row["status"])
        for row in answers.values("status").annotate(n=Count("id")).order_by("-n", "status")
    ]
    errors = (
        answers.exclude(error_code="")
        .values("error_code")
        .annotate(n=Count("id"))
        .order_by("-n", "error_code")
    )
    models = (
        answers.exclude(model="")
        .values("model")
        .annotate(n=Count("id"))
        .order_by("-n", "model")[:BUSIEST_MODELS]
    )
    return Today(
        since=since,
        answers=sum(row.count for row in by_status),
        by_status=by_status,
        errors_by_code=[Row(row["error_code"], row["n"], row["error_code"]) for row in errors],
        busiest_models=[Row(row["model"], row["n"], row["model"]) for row in models],
        providers=list(
            Provider.objects.only("name", "checked_at", "check_ok", "check_code").order_by("name")
        ),
    )
