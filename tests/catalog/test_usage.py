"""The usage ledger: the user's page, the admin's totals and CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from catalog import clock, usage
from catalog.models import Quota, UsageRecord
from conversations.models import Conversation

pytestmark = pytest.mark.django_db


def row(user, model, prompt, completion, *, kind="answer", estimated=False, **extra):
    return usage.record(
        user_id=user.pk, username=user.username, provider="ollama", model=model, kind=kind,
        outcome="done", prompt_tokens=prompt, completion_tokens=completion,
        estimated=estimated, **extra,
    )  # fmt: skip


@pytest.fixture
def ledger(alice, bob, frozen_clock):
    """Alice: two llama answers and a title this month, one gpt-4o last month. Bob: one."""
    row(alice, "llama", 100, 20)
    row(alice, "llama", 300, 40, estimated=True)
    row(alice, "gpt-4o-mini", 50, 5, kind="title")
    with clock.frozen(dt.datetime(2026, 2, 27, 12, tzinfo=dt.UTC)):
        row(alice, "gpt-4o", 7000, 700)
    row(bob, "gpt-4o", 1, 1)


def test_the_usage_page_shows_this_months_usage_by_model(alice_client, ledger):
    response = alice_client.get(reverse("usage"))
    body = response.content.decode()
    assert response.status_code == 200
    assert '<th scope="row">llama</th><td>2</td><td>400</td><td>60</td><td>460' in body
    assert '<th scope="row">gpt-4o-mini</th><td>1</td><td>50</td><td>5</td><td>55' in body
    assert "gpt-4o</th>" not in body  # last month's, and Bob's
    assert "All models</th><td>3</td><td>450</td><td>65</td><td>515" in body
    assert "1 request whose tokens Chatweb estimated" in body


def test_the_usage_page_shows_the_users_limits(alice, alice_client, ledger):
    Quota.objects.create(user=alice, tokens_per_day=1000)
    body = alice_client.get(reverse("usage")).content.decode()
    assert "515 / 1,000" in body
    assert "Resets Mar 15, 00:00" in body


def test_the_usage_page_needs_a_signed_in_user(client):
    response = client.get(reverse("usage"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_usage_survives_deleting_the_conversation(alice, alice_client, conversation):
    row(alice, "llama", 10, 10, conversation_id=conversation.pk)
    alice_client.post(reverse("conversation_delete", args=[conversation.pk]))
    assert not Conversation.objects.exists()
    (record,) = UsageRecord.objects.all()
    assert record.conversation_id == conversation.pk
    assert record.total_tokens == 20


def test_usage_survives_deleting_the_user(alice):
    row(alice, "llama", 10, 10)
    alice.delete()
    (record,) = UsageRecord.objects.all()
    assert record.user_id is None
    assert record.username == "alice"


def test_the_admin_shows_totals_per_user_and_model_for_the_filters(admin_client, ledger):
    url = reverse("admin:catalog_usagerecord_changelist")
    body = admin_client.get(url).content.decode()
    assert "<td>alice</td><td>4</td><td>7,450</td><td>765</td><td>8,215</td>" in body
    assert "<td>gpt-4o</td><td>2</td><td>7,001</td><td>701</td><td>7,702</td>" in body
    body = admin_client.get(url, {"when": "month", "model": "llama"}).content.decode()
    assert "<td>alice</td><td>2</td><td>400</td><td>60</td><td>460</td>" in body
    assert "bob" not in body.split('id="totals-by-user"')[1].split("</table>")[0]


def test_the_csv_export_follows_the_changelists_filters(admin_client, ledger):
    url = reverse("admin:catalog_usagerecord_export")
    response = admin_client.get(url, {"model": "gpt-4o"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["created_at", "username", "provider", "model"]
    assert sorted(r[1] for r in rows[1:]) == ["alice", "bob"]
    assert {r[3] for r in rows[1:]} == {"gpt-4o"}


def test_the_csv_export_defuses_spreadsheet_formulas(admin_client, django_user_model):
    evil = django_user_model.objects.create_user("=HYPERLINK(1)", password="x-password-1")
    row(evil, "+cmd", 1, 1)
    response = admin_client.get(reverse("admin:catalog_usagerecord_export"))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][1] == "'=HYPERLINK(1)"
    assert rows[1][3] == "'+cmd"


def test_the_csv_export_is_for_staff_only(alice_client):
    response = alice_client.get(reverse("admin:catalog_usagerecord_export"))
    assert response.status_code == 302


def test_the_ledger_cannot_be_edited_in_the_admin(admin_client, ledger):
    record = UsageRecord.objects.first()
    assert record is not None
    url = reverse("admin:catalog_usagerecord_change", args=[record.pk])
    admin_client.post(url, {"total_tokens": "0"})
    record.refresh_from_db()
    assert record.total_tokens != 0
    assert admin_client.get(reverse("admin:catalog_usagerecord_add")).status_code == 403


def test_the_admin_lists_filters_finds_and_exports_api_calls_by_token(admin_client, alice):
    row(alice, "llama", 10, 2, kind="api", api_token="tok_0123456789abcdef")
    row(alice, "llama", 10, 2)
    url = reverse("admin:catalog_usagerecord_changelist")
    body = admin_client.get(url, {"kind": "api"}).content.decode()
    assert "tok_0123456789abcdef" in body
    assert ">API token<" in body  # the column
    found = admin_client.get(url, {"q": "tok_0123456789abcdef"})
    assert found.context["cl"].result_count == 1
    export = admin_client.get(reverse("admin:catalog_usagerecord_export"), {"kind": "api"})
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0][-1] == "api_token"
    assert [(r[4], r[-1]) for r in rows[1:]] == [("api", "tok_0123456789abcdef")]
