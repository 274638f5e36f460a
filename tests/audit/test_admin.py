"""The audit log's admin list: filters (action, actor, target type, a date range) and the
CSV export of what they select, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from audit.record import record

pytestmark = pytest.mark.django_db

LIST = reverse("admin:audit_auditevent_changelist")
EXPORT = reverse("admin:audit_auditevent_export")


def backdate(event: AuditEvent, when: dt.datetime) -> None:
    """Set an entry's time the only way there is: below the app, the trigger off."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
        cursor.execute("UPDATE audit_auditevent SET time = %s WHERE id = %s", [when, event.pk])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")


@pytest.fixture
def entries(alice, bob, admin_user):
    base = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    made = {
        "alice_in": record(Action.SIGNIN, actor=alice, target=alice, address="192.0.2.1"),
        "bob_fail": record(
            Action.SIGNIN_FAILED,
            actor=None,
            target_type="auth.user",
            target_label='=HYPERLINK("http://evil")',
            details={"username": "bob"},
        ),
        "provider": record(
            Action.ADMIN_CHANGE,
            actor=admin_user,
            target_type="catalog.provider",
            target_id=7,
            target_label="openai",
            details={"changed": ["API key"]},
        ),
    }
    backdate(made["alice_in"], timezone.now() - dt.timedelta(days=10))
    return base, made


def csv_rows(response) -> list[dict[str, str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def listed(response, base: int) -> set[str]:
    cl = response.context["cl"]
    return {f"{e.action}:{e.target_label}" for e in cl.result_list if e.pk > base}


def test_the_list_filters_by_action_actor_target_type_and_dates(admin_client, entries, alice):
    base, _made = entries
    assert listed(admin_client.get(LIST, {"action": "signin.failed"}), base) == {
        'signin.failed:=HYPERLINK("http://evil")'
    }
    assert listed(admin_client.get(LIST, {"actor__id__exact": alice.pk}), base) == {"signin:alice"}
    assert listed(admin_client.get(LIST, {"target_type": "catalog.provider"}), base) == {
        "admin.change:openai"
    }
    today = timezone.localdate()
    recent = admin_client.get(LIST, {"since": (today - dt.timedelta(days=1)).isoformat()})
    assert listed(recent, base) == {
        'signin.failed:=HYPERLINK("http://evil")',
        "admin.change:openai",
    }
    older = admin_client.get(LIST, {"until": (today - dt.timedelta(days=5)).isoformat()})
    assert listed(older, base) == {"signin:alice"}
    page = recent.content.decode()
    assert 'type="date"' in page
    assert 'name="since"' in page


def test_a_bad_date_is_ignored_not_an_error(admin_client, entries):
    response = admin_client.get(LIST, {"since": "yesterday"})
    assert response.status_code == 200


def test_the_export_has_the_lists_filters_and_defuses_formulas(admin_client, entries):
    rows = csv_rows(admin_client.get(EXPORT, {"action": "signin.failed"}))

    assert len(rows) == 1
    row = rows[0]
    assert row["target_label"] == '\'=HYPERLINK("http://evil")'
    assert (row["action"], row["actor_username"], row["details"]) == (
        "signin.failed", "", '{"username": "bob"}',
    )  # fmt: skip
    every = csv_rows(admin_client.get(EXPORT))
    ours = [r for r in every if int(r["actor_id"] or 0) or r["action"] == "signin.failed"]
    # Oldest first: the backdated sign-in leads.
    assert [r["action"] for r in ours][:1] == ["signin"]


def test_the_list_takes_as_many_queries_for_many_entries_as_for_few(admin_client, entries, alice):
    def queries_of_the_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(LIST).status_code == 200
        return len(queries)

    few = queries_of_the_list()
    for _ in range(30):
        record(Action.EXPORT, actor=alice, target=alice)

    assert queries_of_the_list() == few
