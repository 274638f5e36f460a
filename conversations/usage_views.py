"""The usage page (its ledger and quotas are the catalog's; the answers being written are
the conversations'): what the signed-in user spent this month, by model, in tokens and
money, and their limits."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from catalog import costs, quotas, usage
from catalog.templatetags.humanize_tokens import tokens
from conversations.models import Message


@login_required
def usage_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert user.pk is not None
    rows = usage.month_by_model(int(user.pk))
    limits = quotas.limits_for(user)
    today = usage.tokens_since(int(user.pk), usage.day_start())
    month = sum(int(row["total"] or 0) for row in rows)
    for row in rows:
        # A model none of whose requests was priced shows no cost, not a zero.
        row["cost"] = costs.amount(row["spent"]) if row["unpriced"] < row["requests"] else None
    spent = sum((row["spent"] or 0 for row in rows), start=Decimal(0))
    live = Message.objects.filter(
        conversation__user=user, role=Message.Role.ASSISTANT, status__in=Message.LIVE
    ).count()
    meters = [
        (
            _("Requests this hour"),
            quotas.requests_this_hour(user.pk),
            limits.requests_per_hour,
            None,
        ),
        (_("Tokens today"), today, limits.tokens_per_day, usage.next_day()),
        (_("Tokens this month"), month, limits.tokens_per_month, usage.next_month()),
        (_("Answers being written"), live, limits.concurrent_answers, None),
    ]
    money_meter = {
        "label": _("Spent this month"),
        "used_text": costs.money(spent),
        "limit_text": costs.money(limits.budget_per_month),
        "limit": limits.budget_per_month,
        "percent": (
            min(100, round(100 * spent / limits.budget_per_month)) if limits.budget_per_month else 0
        ),
        "resets_at": usage.next_month(),
    }
    context = {
        "rows": rows,
        "totals": {
            "requests": sum(int(r["requests"]) for r in rows),
            "prompt": sum(int(r["prompt"] or 0) for r in rows),
            "completion": sum(int(r["completion"] or 0) for r in rows),
            "total": month,
            "estimated": sum(int(r["estimated"]) for r in rows),
            "cost": costs.amount(spent) if any(r["cost"] for r in rows) else None,
        },
        "currency": settings.CURRENCY,
        "meters": [
            *(
                {
                    "label": label,
                    "used_text": tokens(used),
                    "limit_text": tokens(limit),
                    "limit": limit,
                    "percent": min(100, round(100 * used / limit)) if limit else 0,
                    "resets_at": resets,
                }
                for label, used, limit, resets in meters
            ),
            money_meter,
        ],
        "month_start": usage.month_start(),
        "ever": usage.UsageRecord.objects.filter(user=user).aggregate(t=Sum("total_tokens"))["t"]
        or 0,
    }
    return render(request, "catalog/usage.html", context)
