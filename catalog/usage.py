"""The usage ledger: one row per upstream request, kept when conversations are deleted.

Windows are calendar periods in TIME_ZONE: a day starts at its midnight, a month on the
1st, whichever zone the reader's request has activated (accounts.timezones: that zone
only changes how a window's end is shown). The ledger is the truth for token totals
(quotas read it too), so every instance sees the same numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone

from catalog import clock, costs, rollup, tokens
from catalog.models import UsageRecord
from chatweb import prometheus
from modelclient.providers import ChatMessage, Usage

__all__ = ["UsageRecord"]


def _local(at: dt.datetime | None) -> dt.datetime:
    return timezone.localtime(at or clock.now(), timezone.get_default_timezone())


def day_start(at: dt.datetime | None = None) -> dt.datetime:
    return _local(at).replace(hour=0, minute=0, second=0, microsecond=0)


def next_day(at: dt.datetime | None = None) -> dt.datetime:
    start = day_start(at)
    return timezone.make_aware(
        dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time()),
        timezone.get_default_timezone(),
    )


def month_start(at: dt.datetime | None = None) -> dt.datetime:
    return day_start(at).replace(day=1)


def next_month(at: dt.datetime | None = None) -> dt.datetime:
    start = month_start(at)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return timezone.make_aware(dt.datetime(year, month, 1), timezone.get_default_timezone())


def record(**fields: Any) -> UsageRecord:
    """Write one row of the ledger (the keyword arguments of entry()), with its cost."""
    row = entry(**fields)
    costs.price([row])
    row.save()
    rollup.reopen_late([row])
    return row


def record_all(rows: list[UsageRecord]) -> None:
    """Write rows made by entry() in one INSERT, each with its cost at the prices now."""
    if rows:
        costs.price(rows)
        UsageRecord.objects.bulk_create(rows)
        # Rows kept through a database outage may be of a day already rolled up. Reopened
        # after the insert (in the caller's transaction, if any), so a fill running
        # meanwhile is undone (catalog.rollup).
        rollup.reopen_late(rows)


def entry(
    *,
    user_id: int | None,
    username: str,
    provider: str,
    model: str,
    kind: str,
    outcome: str,
    prompt_tokens: int,
    completion_tokens: int,
    estimated: bool,
    conversation_id: int | None = None,
    message_id: int | None = None,
    api_token: str = "",
) -> UsageRecord:
    """A row of the ledger, not yet written (record(), record_all())."""
    prompt_tokens, completion_tokens = max(0, prompt_tokens), max(0, completion_tokens)
    return UsageRecord(
        user_id=user_id,
        username=username,
        provider=provider,
        model=model,
        kind=kind,
        outcome=outcome,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        estimated=estimated,
        conversation_id=conversation_id,
        message_id=message_id,
        api_token=api_token,
    )


@dataclass
class UpstreamRequest:
    """One request sent upstream for an answer (or its title), and what it cost."""

    user_id: int
    username: str
    provider: str
    model: str
    kind: str
    messages: list[ChatMessage]
    conversation_id: int | None = None
    message_id: int | None = None
    api_token: str = ""  # the public id of the API token that asked (kind `api`)
    parts: list[str] = field(default_factory=list)  # the text received, as it came
    usage: Usage | None = None

    def entry(self, *, outcome: str) -> UsageRecord:
        """Its row of the ledger, not yet written: the upstream's own counts, or ours when
        it reported none (stopped, failed, or a server that does not report usage)."""
        if self.usage is not None:
            prompt, completion = self.usage["prompt_tokens"], self.usage["completion_tokens"]
        else:
            prompt = tokens.count_messages(self.messages)
            completion = tokens.count("".join(self.parts))
        prometheus.tokens(self.model, prompt, completion)
        return entry(
            user_id=self.user_id,
            username=self.username,
            provider=self.provider,
            model=self.model,
            kind=self.kind,
            outcome=outcome,
            prompt_tokens=prompt,
            completion_tokens=completion,
            estimated=self.usage is None,
            conversation_id=self.conversation_id,
            message_id=self.message_id,
            api_token=self.api_token,
        )


def tokens_since(user_id: int, start: dt.datetime) -> int:
    total = UsageRecord.objects.filter(user_id=user_id, created_at__gte=start).aggregate(
        total=Sum("total_tokens")
    )["total"]
    return int(total or 0)


def month_by_model(user_id: int) -> list[dict[str, Any]]:
    """This month's usage of one user, a row per model, biggest first."""
    return list(
        UsageRecord.objects.filter(user_id=user_id, created_at__gte=month_start())
        .values("model")
        .annotate(
            requests=Count("id"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            total=Sum("total_tokens"),
            estimated=Count("id", filter=Q(estimated=True)),
            spent=Sum("cost"),
            unpriced=Count("id", filter=Q(cost__isnull=True)),
        )
        .order_by("-total", "model")
    )
