"""Pins and archives reach the owner's other tabs (#22, items 2 and 7): each write publishes
an `organised` frame to the user's group after commit, a refused one publishes nothing,
and a tab fetches the row as it is now (GET /c/<id>/row/). Temporary chats are never
pinned or archived, and their single export stays open while archive-all skips them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from conversations import organise
from conversations.actions import ActionError
from conversations.models import Conversation, Project
from realtime import events
from tests.conversations.test_views import _html, _listed

pytestmark = pytest.mark.django_db


def organised(conversation_id: int | None, pinned: bool, archived: bool) -> dict[str, Any]:
    return {
        "type": "organised",
        "conversation_id": conversation_id,
        "pinned": pinned,
        "archived": archived,
    }


def temporary(user: Any, title: str = "Temporary") -> Conversation:
    return Conversation.objects.create(
        user=user, title=title, expires_at=timezone.now() + dt.timedelta(hours=1)
    )


def test_each_pin_and_archive_is_published_to_the_users_group_after_commit(
    alice_client, alice, capture_frames
):
    chat = Conversation.objects.create(user=alice, title="Trip")
    group = events.user_group(alice.pk)
    with capture_frames() as captured:
        alice_client.post(f"/c/{chat.pk}/pin/", {"pinned": "true"})
        alice_client.post(f"/c/{chat.pk}/archive/", {"archived": "true"})
        alice_client.post(f"/c/{chat.pk}/archive/", {"archived": "false"})
        alice_client.post(f"/c/{chat.pk}/pin/", {"pinned": "false"})
    assert captured.frames("organised", group=group) == [
        organised(chat.pk, True, False),
        organised(chat.pk, False, True),  # archiving unpins
        organised(chat.pk, False, False),
        organised(chat.pk, False, False),
    ]
    # Only to the owner's group: the conversation's own group hears nothing of it.
    assert captured.frames("organised") == captured.frames("organised", group=group)


def test_archive_all_publishes_one_frame_for_all_and_none_when_nothing_moved(
    alice_client, alice, capture_frames
):
    Conversation.objects.create(user=alice, title="One")
    with capture_frames() as captured:
        alice_client.post("/archive/all/")
        alice_client.post("/archive/all/")  # nothing left to archive
    assert captured.frames("organised", group=events.user_group(alice.pk)) == [
        organised(None, False, True)
    ]


def test_a_refused_flag_publishes_nothing_and_writes_nothing(alice, capture_frames):
    chat = Conversation.objects.create(user=alice, title="Trip")
    with capture_frames() as captured:
        with pytest.raises(ActionError):
            organise.set_pinned(conversation=chat, pinned="yes")
        with pytest.raises(ActionError) as both:
            organise.update(conversation=chat, title="New", pinned=True, archived=True)
    assert both.value.code == "bad_flag"
    assert captured.sent == []
    chat.refresh_from_db()
    assert (chat.title, chat.pinned, chat.archived) == ("Trip", False, False)


def test_a_temporary_chat_is_never_pinned_or_archived(alice_client, alice, capture_frames):
    chat = temporary(alice)
    with capture_frames() as captured:
        for what, field in (("pin", "pinned"), ("archive", "archived")):
            response = alice_client.post(
                f"/c/{chat.pk}/{what}/", {field: "true"}, HTTP_ACCEPT="application/json"
            )
            assert response.status_code == 409
            assert response.json()["code"] == "temporary_not_organised"
    assert captured.sent == []
    chat.refresh_from_db()
    assert (chat.pinned, chat.archived) == (False, False)


def test_archive_all_and_the_archive_page_leave_temporary_chats_alone(alice_client, alice):
    chat = temporary(alice)
    kept = Conversation.objects.create(user=alice, title="Kept")
    alice_client.post("/archive/all/")
    chat.refresh_from_db()
    assert chat.archived is False
    Conversation.objects.filter(pk=chat.pk).update(archived=True)  # as an older build left it
    archive = _html(alice_client.get("/archive/"))
    assert f'href="/c/{kept.pk}/"' in archive
    assert f'href="/c/{chat.pk}/"' not in archive


def test_a_move_in_or_out_of_a_project_is_published_and_the_row_follows(
    alice_client, alice, capture_frames
):
    chat = Conversation.objects.create(user=alice, title="Trip")
    project = Project.objects.create(user=alice, name="Travel")
    with capture_frames() as captured:
        alice_client.post(f"/c/{chat.pk}/project/", {"project": project.pk})
        assert alice_client.get(f"/c/{chat.pk}/row/").status_code == 204  # left "Chats"
        alice_client.post(f"/c/{chat.pk}/project/", {"project": ""})
    assert captured.frames("organised", group=events.user_group(alice.pk)) == [
        organised(chat.pk, False, False),
        organised(chat.pk, False, False),
    ]
    row = _html(alice_client.get(f"/c/{chat.pk}/row/"))
    assert _listed(row) == [chat.pk]
    # The row fetched again keeps its move menu, which lists the user's projects.
    assert f'<option value="{project.pk}"' in row


def test_the_row_is_the_sidebars_row_as_it_is_now(alice_client, alice, bob):
    chat = Conversation.objects.create(user=alice, title="Trip <b>")
    row = alice_client.get(f"/c/{chat.pk}/row/")
    assert row.status_code == 200
    assert _listed(_html(row)) == [chat.pk]
    assert "Trip &lt;b&gt;" in _html(row)
    assert "data-pinned" not in _html(row)

    Conversation.objects.filter(pk=chat.pk).update(pinned=True)
    pinned = _html(alice_client.get(f"/c/{chat.pk}/row/?current={chat.pk}"))
    assert 'data-date-group="Pinned"' in pinned
    assert "data-pinned" in pinned
    assert 'class="conv active pinned"' in pinned
    assert 'aria-current="page"' in pinned

    Conversation.objects.filter(pk=chat.pk).update(pinned=False, archived=True)
    assert alice_client.get(f"/c/{chat.pk}/row/").status_code == 204
    assert alice_client.get(f"/c/{temporary(alice).pk}/row/").status_code == 204
    theirs = Conversation.objects.create(user=bob, title="Bob's")
    assert alice_client.get(f"/c/{theirs.pk}/row/").status_code == 404
    assert alice_client.get(f"/c/{chat.pk}/row/?current=x").status_code == 204


def test_a_temporary_chats_own_menu_downloads_it_but_export_all_leaves_it_out(
    alice_client, alice, add_message
):
    chat = temporary(alice, "Passing")
    add_message(chat, "user", "a passing question")
    page = _html(alice_client.get(f"/c/{chat.pk}/"))
    assert 'id="conv-menu"' in page
    assert f'href="/c/{chat.pk}/export.md"' in page
    assert f'href="/c/{chat.pk}/export.json"' in page
    assert 'id="share-form"' not in page
    assert f'action="/c/{chat.pk}/pin/"' not in page
    assert f'action="/c/{chat.pk}/archive/"' not in page

    one = json.loads(b"".join(alice_client.get(f"/c/{chat.pk}/export.json").streaming_content))
    assert [c["title"] for c in one["conversations"]] == ["Passing"]
    markdown = alice_client.get(f"/c/{chat.pk}/export.md").content.decode()
    assert "a passing question" in markdown
    every = json.loads(b"".join(alice_client.get("/export/").streaming_content))
    assert every["conversations"] == []
