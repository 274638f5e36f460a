"""AUDIT_RETENTION_DAYS: older entries go, by the heartbeat's periodic job and by a
management command; 0 keeps them all; a negative value fails at start."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from audit import retention
from audit.models import Action, AuditEvent
from audit.record import record
from streaming import heartbeat
from tests.test_settings import read_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(alice):
    # With alice's creation: three entries.
    return [record(Action.SIGNIN, actor=alice), record(Action.SIGNOUT, actor=alice)]


def later(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def test_entries_older_than_the_retention_are_purged(entries, settings):
    settings.AUDIT_RETENTION_DAYS = 10
    assert retention.purge(now=later(9)) == 0
    assert AuditEvent.objects.count() == 3

    assert retention.purge(now=later(11)) == 3

    assert AuditEvent.objects.count() == 0


def test_zero_keeps_every_entry(entries, settings):
    settings.AUDIT_RETENTION_DAYS = 0
    assert retention.purge(now=later(100_000)) == 0
    assert AuditEvent.objects.count() == 3


def test_the_heartbeat_and_the_command_purge(entries, settings, monkeypatch):
    settings.AUDIT_RETENTION_DAYS = 1
    real_purge = retention.purge
    monkeypatch.setattr(retention, "purge", lambda: real_purge(now=later(2)))

    assert heartbeat.purge_audit() == 3
    record(Action.SIGNIN, actor=None)
    out = io.StringIO()
    call_command("purge_audit", stdout=out)

    assert out.getvalue().strip() == "Deleted 1 audit entry."
    assert AuditEvent.objects.count() == 0


def test_a_negative_retention_fails_at_start(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="AUDIT_RETENTION_DAYS must be 0"):
        read_settings(tmp_path, AUDIT_RETENTION_DAYS="-1")
    assert read_settings(tmp_path).AUDIT_RETENTION_DAYS == 365
