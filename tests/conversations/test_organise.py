"""Pin and archive (#22, item 2): the sidebar's order, the archive page, archive all,
search, export and import, and the conversation API's fields and filter."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conversations import transfer
from conversations.models import Conversation
from conversations.views import SIDEBAR_PAGE
from tests.conversations.test_views import _html, _listed

pytestmark = pytest.mark.django_db


def _chats(user: Any, count: int) -> list[Conversation]:
    """`count` conversations, newest first."""
    start = timezone.now()
    Conversation.objects.bulk_create(
        Conversation(user=user, title=f"Chat {n}", updated_at=start - timedelta(seconds=n))
        for n in range(count)
    )
    return list(Conversation.objects.filter(user=user))


def _flags(conversation: Conversation) -> tuple[bool, bool]:
    conversation.refresh_from_db()
    return conversation.pinned, conversation.archived


def test_pinning_puts_it_first_under_a_pinned_heading(alice_client, alice):
    chats = _chats(alice, 5)
    response = alice_client.post(f"/c/{chats[3].pk}/pin/", {"pinned": "true", "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    page = _html(alice_client.get("/"))
    assert _listed(page)[0] == chats[3].pk
    assert _listed(page)[1:] == [c.pk for c in chats if c != chats[3]]
    first = re.search(r'<li class="conv[^"]*"[^>]*>', page)
    assert first is not None
    assert 'data-date-group="Pinned"' in first[0]

    alice_client.post(f"/c/{chats[3].pk}/pin/", {"pinned": "false"})
    assert _listed(_html(alice_client.get("/"))) == [c.pk for c in chats]


def test_load_more_walks_pinned_then_the_rest_once_each(alice_client, alice):
    chats = _chats(alice, SIDEBAR_PAGE + 10)
    pinned = [chats[5], chats[SIDEBAR_PAGE + 3], chats[-1]]
    Conversation.objects.filter(pk__in=[c.pk for c in pinned]).update(pinned=True)
    Conversation.objects.filter(pk=chats[7].pk).update(archived=True)
    page = _html(alice_client.get("/"))
    seen = _listed(page)
    while (more := re.search(r'data-load-more="([^"]+)"', page)) is not None:
        page = _html(alice_client.get(more[1].replace("&amp;", "&")))
        seen += _listed(page)
    rest = [c.pk for c in chats if c not in pinned and c != chats[7]]
    assert seen == [c.pk for c in pinned] + rest


def test_archiving_takes_it_out_of_the_sidebar_onto_the_archive_page(alice_client, alice):
    kept, old = _chats(alice, 2)
    alice_client.post(f"/c/{old.pk}/pin/", {"pinned": "true"})
    response = alice_client.post(f"/c/{old.pk}/archive/", {"archived": "true", "next": "/"})
    assert response.status_code == 302
    assert _flags(old) == (False, True)  # archiving unpins
    assert _listed(_html(alice_client.get("/"))) == [kept.pk]
    archive = _html(alice_client.get("/archive/"))
    assert f'href="/c/{old.pk}/"' in archive
    assert f'href="/c/{kept.pk}/"' not in archive
    # Still reachable, and it says where it is.
    assert 'id="archived-note"' in _html(alice_client.get(f"/c/{old.pk}/"))

    response = alice_client.post(
        f"/c/{old.pk}/archive/", {"archived": "false", "next": "/archive/"}
    )
    assert response["Location"] == "/archive/"
    assert _flags(old) == (False, False)
    assert _listed(_html(alice_client.get("/"))) == [kept.pk, old.pk]


def test_the_archive_page_is_reachable_from_the_account_menu(alice_client):
    page = _html(alice_client.get("/"))
    assert 'href="/archive/"' in page
    assert "data-open-shortcuts" in page
    assert 'id="shortcuts-dialog"' in page


def test_archive_all_archives_only_the_users_own(alice_client, alice, bob):
    mine = _chats(alice, 3)
    Conversation.objects.filter(pk=mine[0].pk).update(pinned=True)
    theirs = Conversation.objects.create(user=bob, title="Bob's")
    assert "data-archive-all" in _html(alice_client.get("/archive/"))

    response = alice_client.post("/archive/all/")
    assert response.status_code == 302
    assert response["Location"] == "/archive/"
    assert [_flags(c) for c in mine] == [(False, True)] * 3
    assert _flags(theirs) == (False, False)
    page = _html(alice_client.get("/archive/"))
    assert "Archived 3 conversations." in page
    assert "data-archive-all" not in page  # nothing left to archive
    assert _listed(_html(alice_client.get("/"))) == []


def test_another_users_conversation_is_a_404_and_stays_as_it_was(alice, bob):
    theirs = Conversation.objects.create(user=bob, title="Bob's")
    client = Client()
    client.force_login(alice)
    assert client.post(f"/c/{theirs.pk}/pin/", {"pinned": "true"}).status_code == 404
    assert client.post(f"/c/{theirs.pk}/archive/", {"archived": "true"}).status_code == 404
    assert _flags(theirs) == (False, False)


@pytest.mark.parametrize("value", ["", "yes", "1", "TRUE", None])
def test_a_bad_value_is_refused_and_writes_nothing(alice_client, conversation, value):
    data = {} if value is None else {"pinned": value, "archived": value}
    for what in ("pin", "archive"):
        response = alice_client.post(
            f"/c/{conversation.pk}/{what}/", data, HTTP_ACCEPT="application/json"
        )
        assert response.status_code == 400
        assert response.json()["code"] == "bad_flag"
        plain = alice_client.post(f"/c/{conversation.pk}/{what}/", data)
        assert plain.status_code == 400
        assert b"true or false" in plain.content
    assert _flags(conversation) == (False, False)


def test_the_forms_need_a_post_with_the_csrf_token(alice, conversation):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.get(f"/c/{conversation.pk}/pin/").status_code == 405
    assert strict.post(f"/c/{conversation.pk}/pin/", {"pinned": "true"}).status_code == 403
    assert strict.post(f"/c/{conversation.pk}/archive/", {"archived": "true"}).status_code == 403
    assert strict.post("/archive/all/").status_code == 403
    assert _flags(conversation) == (False, False)

    page = _html(strict.get(f"/c/{conversation.pk}/"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = strict.post(
        f"/c/{conversation.pk}/pin/",
        {"pinned": "true", "csrfmiddlewaretoken": token[1]},
        HTTP_ACCEPT="application/json",
    )
    assert response.json() == {"ok": True, "pinned": True, "archived": False}


def test_a_foreign_next_is_not_followed(alice_client, conversation):
    response = alice_client.post(
        f"/c/{conversation.pk}/pin/", {"pinned": "true", "next": "https://evil.example/"}
    )
    assert response["Location"] == f"/c/{conversation.pk}/"


def test_search_finds_archived_ones_and_says_so(alice_client, alice, add_message):
    old = Conversation.objects.create(user=alice, title="Kept apples", archived=True)
    add_message(old, "user", "apples in an archived chat")
    Conversation.objects.create(user=alice, title="Fresh apples")
    hits = alice_client.get("/search/?q=apples", HTTP_ACCEPT="application/json").json()
    flags = {(h["title"], h["message_id"] is None): h["archived"] for h in hits["results"]}
    assert flags == {
        ("Kept apples", True): True,
        ("Kept apples", False): True,
        ("Fresh apples", True): False,
    }
    page = _html(alice_client.get("/search/?q=apples"))
    assert page.count('class="search-archived"') == 2


def test_export_and_import_carry_pinned_and_archived(alice, bob):
    Conversation.objects.create(user=alice, title="Pinned", pinned=True)
    Conversation.objects.create(user=alice, title="Archived", archived=True)
    Conversation.objects.create(user=alice, title="Plain")
    document = transfer.export_user(user=alice)
    assert {c["title"]: (c["pinned"], c["archived"]) for c in document["conversations"]} == {
        "Pinned": (True, False),
        "Archived": (False, True),
        "Plain": (False, False),
    }
    transfer.import_file(user=bob, raw=json.dumps(document).encode())
    copies = Conversation.objects.filter(user=bob)
    assert {c.title: (c.pinned, c.archived) for c in copies} == {
        "Pinned": (True, False),
        "Archived": (False, True),
        "Plain": (False, False),
    }


def test_an_import_with_a_bad_flag_is_refused_whole(alice, bob):
    Conversation.objects.create(user=alice, title="One")
    document = transfer.export_user(user=alice)
    document["conversations"][0]["pinned"] = "yes"
    with pytest.raises(transfer.ImportRefused, match="pinned"):
        transfer.import_file(user=bob, raw=json.dumps(document).encode())
    assert not Conversation.objects.filter(user=bob).exists()
