"""The retention purge: entries older than AUDIT_RETENTION_DAYS go (0 keeps them all).
Run by every server process's heartbeat (streaming.heartbeat) and `manage.py purge_audit`.

It is the one deletion the audit log allows. On PostgreSQL a trigger refuses every UPDATE
and DELETE of the table (migration 0002) unless the transaction set chatweb.audit_purge,
which only this function does.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEvent

PURGE_SETTING = "chatweb.audit_purge"


def cutoff(now: dt.datetime | None = None) -> dt.datetime | None:
    """Entries before this time are purged; None when they are kept for ever."""
    days = settings.AUDIT_RETENTION_DAYS
    if days <= 0:
        return None
    return (now or timezone.now()) - dt.timedelta(days=days)


def purge(*, now: dt.datetime | None = None) -> int:
    """Delete the entries older than the retention; how many."""
    before = cutoff(now)
    if before is None:
        return 0
    with transaction.atomic():
        old = AuditEvent.objects.filter(time__lt=before)
        if not old.exists():  # one indexed query on most beats: nothing is written
            return 0
        if connection.vendor != "postgresql":
            return old._purge()
        with connection.cursor() as cursor:
            # The trigger lets DELETE through while this is on: set for the transaction
            # (local), and off again at once, in case an outer transaction goes on.
            cursor.execute("SELECT set_config(%s, 'on', true)", [PURGE_SETTING])
            try:
                return old._purge()
            finally:
                cursor.execute("SELECT set_config(%s, 'off', true)", [PURGE_SETTING])
