"""Temporary chats (#22, item 3): kept out of the sidebar, search and exports, never shared,
said so on their page, and deleted with their messages when their time is up, while the
usage ledger keeps what their answers cost."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import UserSettings
from catalog import clock
from catalog.models import UsageRecord
from conversations import actions, organise, sharing
from conversations.actions import ActionError
from conversations.models import Conversation, Message, SharedLink
from streaming import heartbeat

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 3, 14, 12, 0, tzinfo=dt.UTC)


def temporary_chat(user: Any, add_message: Any, *, expires_at: dt.datetime, title: str) -> Any:
    conversation = Conversation.objects.create(user=user, title=title, expires_at=expires_at)
    question = add_message(conversation, "user", f"{title} secret question")
    add_message(conversation, "assistant", f"{title} secret answer", parent=question)
    return conversation


def ledger_row(user: Any, conversation: Conversation) -> UsageRecord:
    answer = conversation.messages.get(role="assistant")
    return UsageRecord.objects.create(
        user=user, username=user.username, provider="environment", model="fake-model",
        kind="answer", outcome="done", prompt_tokens=3, completion_tokens=4, total_tokens=7,
        conversation_id=conversation.pk, message_id=answer.pk,
    )  # fmt: skip


def test_a_temporary_start_expires_after_the_setting_and_a_normal_one_never(alice, settings):
    settings.TEMPORARY_CHAT_HOURS = 6
    with clock.frozen(NOON):
        temporary = actions.start_conversation(user=alice, text="Hi", temporary=True)
        normal = actions.start_conversation(user=alice, text="Hi")
    assert temporary.conversation.expires_at == NOON + dt.timedelta(hours=6)
    assert temporary.conversation.is_temporary
    assert normal.conversation.expires_at is None


def test_the_purge_deletes_exactly_the_expired_ones_and_keeps_the_ledger(alice, add_message):
    expired = temporary_chat(alice, add_message, expires_at=NOON, title="due")
    later = temporary_chat(
        alice, add_message, expires_at=NOON + dt.timedelta(seconds=1), title="later"
    )
    normal = Conversation.objects.create(user=alice, title="normal")
    add_message(normal, "user", "kept")
    # An ordinary chat older than any limit is never touched.
    Conversation.objects.filter(pk=normal.pk).update(created_at=NOON - dt.timedelta(days=400))
    ledger_row(alice, expired)
    ledger_row(alice, later)

    with clock.frozen(NOON - dt.timedelta(seconds=1)):
        assert organise.purge_temporary() == 0
    with clock.frozen(NOON):
        assert heartbeat.purge_temporary() == 1
        assert organise.purge_temporary() == 0  # a second run finds nothing

    assert set(Conversation.objects.values_list("title", flat=True)) == {"later", "normal"}
    assert not Message.objects.filter(conversation_id=expired.pk).exists()
    assert Message.objects.filter(conversation_id=later.pk).count() == 2
    # What the deleted chat's answer cost stays counted, figures intact.
    kept = UsageRecord.objects.get(conversation_id=expired.pk)
    assert (kept.user_id, kept.total_tokens, kept.prompt_tokens) == (alice.pk, 7, 3)
    assert UsageRecord.objects.count() == 2

    out = StringIO()
    with clock.frozen(NOON + dt.timedelta(hours=1)):
        call_command("purge_temporary", stdout=out)
    assert out.getvalue().strip() == "1 temporary chat(s) deleted."
    assert list(Conversation.objects.values_list("title", flat=True)) == ["normal"]
    assert UsageRecord.objects.count() == 2


def test_temporary_chats_stay_out_of_the_sidebar_search_and_export(
    alice, alice_client, add_message
):
    temporary = temporary_chat(
        alice, add_message, expires_at=timezone.now() + dt.timedelta(hours=1), title="Hidden"
    )
    normal = Conversation.objects.create(user=alice, title="Visible")
    add_message(normal, "user", "Visible secret question")

    sidebar = alice_client.get("/").text
    assert "Visible" in sidebar
    assert f"/c/{temporary.pk}/" not in sidebar

    found = alice_client.get("/search/?q=secret", headers={"Accept": "application/json"}).json()
    assert [hit["conversation_id"] for hit in found["results"]] == [normal.pk]
    assert (
        alice_client.get("/search/?q=Hidden", headers={"Accept": "application/json"}).json()[
            "results"
        ]
        == []
    )

    exported = json.loads(b"".join(alice_client.get("/export/").streaming_content))
    assert [c["title"] for c in exported["conversations"]] == ["Visible"]

    # Its own page still opens for its owner (the banner says what it is).
    assert alice_client.get(f"/c/{temporary.pk}/").status_code == 200


def test_the_page_says_it_is_temporary_and_when_it_goes_in_the_users_zone(
    alice, alice_client, add_message, settings
):
    settings.LANGUAGE_CODE = "en"
    temporary = temporary_chat(
        alice, add_message, expires_at=dt.datetime(2030, 3, 14, 23, 30, tzinfo=dt.UTC), title="T"
    )
    UserSettings.objects.update_or_create(user=alice, defaults={"time_zone": "Asia/Tokyo"})
    html = alice_client.get(f"/c/{temporary.pk}/").text
    assert 'id="temporary-banner"' in html
    # 23:30 UTC is 08:30 the next morning in Tokyo.
    assert "March 15, 2030, 8:30 a.m. (your time)" in html
    assert "March 14, 2030" not in html
    assert 'id="share-form"' not in html  # never shared (its menu only downloads it)

    normal = Conversation.objects.create(user=alice, title="N")
    assert 'id="temporary-banner"' not in alice_client.get(f"/c/{normal.pk}/").text
    assert 'id="temporary-toggle"' in alice_client.get("/").text


def test_sharing_a_temporary_chat_is_refused_and_writes_nothing(alice, alice_client, add_message):
    temporary = temporary_chat(
        alice, add_message, expires_at=timezone.now() + dt.timedelta(hours=1), title="T"
    )
    with pytest.raises(ActionError) as refused:
        sharing.share_conversation(conversation=temporary)
    assert refused.value.code == "temporary_not_shared"
    response = alice_client.post(
        f"/c/{temporary.pk}/share/", headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "A temporary chat cannot be shared."
    assert not SharedLink.objects.exists()
