"""Nobody changes or deletes an audit entry from the app, admins included: the model and
its QuerySet refuse, the admin offers no way, and on PostgreSQL the table refuses UPDATE
and DELETE too, except for the retention purge."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit import retention
from audit.models import Action, AuditEvent, AuditRefused
from audit.record import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(alice) -> AuditEvent:
    return record(Action.SIGNIN, actor=alice, target=alice, address="192.0.2.7")


def test_a_new_entry_is_saved_with_its_fields(entry, alice):
    stored = AuditEvent.objects.get(pk=entry.pk)
    assert (stored.actor_id, stored.actor_username, stored.action) == (alice.pk, "alice", "signin")
    assert (stored.target_type, stored.target_id, stored.target_label) == (
        "auth.user", str(alice.pk), "alice",
    )  # fmt: skip
    assert stored.address == "192.0.2.7"


def test_an_address_that_is_not_one_is_left_out(alice):
    assert record(Action.SIGNIN, actor=alice, address="unix:/run/daphne.sock").address is None


def test_saving_an_existing_entry_is_refused(entry):
    entry.action = Action.SIGNOUT
    with pytest.raises(AuditRefused):
        entry.save()
    assert AuditEvent.objects.get(pk=entry.pk).action == "signin"


def test_deleting_an_entry_is_refused(entry):
    with pytest.raises(AuditRefused):
        entry.delete()
    with pytest.raises(AuditRefused):
        AuditEvent.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AuditRefused):
        AuditEvent.objects.filter(pk=entry.pk).update(actor_username="someone")
    assert AuditEvent.objects.get(pk=entry.pk).actor_username == "alice"


def test_deleting_the_actor_leaves_the_entry_as_it_was(entry, alice):
    alice.delete()  # no cascade and no SET NULL: the row is not touched
    stored = AuditEvent.objects.get(pk=entry.pk)
    assert (stored.actor_id, stored.actor_username) == (entry.actor_id, "alice")


def test_even_a_superuser_may_only_read_it_in_the_admin(entry, admin_client):
    change = reverse("admin:audit_auditevent_change", args=[entry.pk])
    page = admin_client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # read-only: no save button
    assert admin_client.post(change, {"action": "signout"}).status_code == 403
    delete = reverse("admin:audit_auditevent_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    listing = admin_client.get(reverse("admin:audit_auditevent_changelist")).content.decode()
    assert "delete_selected" not in listing
    assert AuditEvent.objects.get(pk=entry.pk).action == "signin"


def test_staff_without_the_view_permission_cannot_read_it(entry, django_user_model):
    staff = django_user_model.objects.create_user("helper", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_export")).status_code == 403


postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL trigger")


@postgresql
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET actor_username = 'mallory'",
        "DELETE FROM audit_auditevent",
    ],
)
def test_postgresql_refuses_a_direct_update_or_delete(entry, statement):
    refused = pytest.raises(DatabaseError, match="audit entries cannot be changed or deleted")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.get(pk=entry.pk).actor_username == "alice"


@postgresql
def test_postgresql_lets_only_the_purge_delete_and_only_in_its_transaction(alice, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    old = record(Action.SIGNIN, actor=alice)
    with connection.cursor() as cursor:  # made old the only way there is: the trigger off
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
        cursor.execute(
            "UPDATE audit_auditevent SET time = %s WHERE id = %s",
            [timezone.now() - dt.timedelta(days=40), old.pk],
        )
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")
    kept = record(Action.SIGNOUT, actor=alice)

    assert retention.purge() == 1

    remaining = set(AuditEvent.objects.values_list("pk", flat=True))
    assert old.pk not in remaining
    assert kept.pk in remaining
    # The permission ended with the purge's transaction.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")


@postgresql
def test_the_trigger_migration_is_reversible(transactional_db):
    from django.core.management import call_command

    def has_trigger() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_append_only'")
            return bool(cursor.fetchone()[0])

    assert has_trigger()
    call_command("migrate", "audit", "0001", verbosity=0)
    try:
        assert not has_trigger()
    finally:
        call_command("migrate", "audit", verbosity=0)
    assert has_trigger()
