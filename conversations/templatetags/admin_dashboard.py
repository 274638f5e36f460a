"""{% admin_dashboard %}: today's figures on the admin's index (conversations.dashboard)."""

from __future__ import annotations

from typing import Any

from django import template

from catalog import probe
from conversations import dashboard

register = template.Library()


@register.inclusion_tag("admin/_dashboard.html", takes_context=True)
def admin_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    # Aggregates only (no message text), for those who may read the usage ledger.
    if not request.user.has_perm("catalog.view_usagerecord"):
        return {"today": None}
    today = dashboard.today()
    return {
        "today": today,
        "providers": [(p, probe.summary(p)) for p in today.providers],
        "can_change_providers": request.user.has_perm("catalog.change_provider"),
    }
