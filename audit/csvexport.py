"""The audit log as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable

from django.http import HttpResponse

from audit.models import AuditEvent
from chatweb.csvcells import cell

COLUMNS = [
    "time", "actor_id", "actor_username", "action", "target_type", "target_id",
    "target_label", "address", "details",
]  # fmt: skip


def rows(events: Iterable[AuditEvent]) -> Iterable[list[str]]:
    yield COLUMNS
    for event in events:
        yield [
            cell(value)
            for value in (
                event.time.isoformat(), event.actor_id, event.actor_username, event.action,
                event.target_type, event.target_id, event.target_label, event.address,
                json.dumps(event.details, ensure_ascii=False, sort_keys=True),
            )
        ]  # fmt: skip


def response(events: Iterable[AuditEvent]) -> HttpResponse:
    reply = HttpResponse(content_type="text/csv; charset=utf-8")
    reply["Content-Disposition"] = 'attachment; filename="chatweb-audit.csv"'
    csv.writer(reply).writerows(rows(events))
    return reply
