"""/api/v1 conversations: list (cursor-paged), create, rename, delete, messages, export,
import, search; the owner may, an outsider gets 404, a token without the scope 403, bad
input writes nothing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message
from tests.api.conftest import Api, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def make_conversations(user: Any, count: int) -> list[int]:
    return [
        Conversation.objects.create(user=user, title=f"chat {i}", model="fake-model").pk
        for i in range(count)
    ]


def thread(conversation: Conversation) -> list[Message]:
    """question 1 -> answer 1 -> question 2 -> {answer 2a, answer 2b (active)}."""
    done = Message.Status.DONE
    q1 = Message.objects.create(conversation=conversation, role="user", content="q1", status=done)
    a1 = Message.objects.create(
        conversation=conversation, role="assistant", content="a1", parent=q1, status=done
    )
    q2 = Message.objects.create(
        conversation=conversation, role="user", content="q2", parent=a1, status=done
    )
    a2a = Message.objects.create(
        conversation=conversation, role="assistant", content="a2a", parent=q2, status=done
    )
    a2b = Message.objects.create(
        conversation=conversation, role="assistant", content="a2b", parent=q2, status=done
    )
    conversation.current_leaf = a2b
    conversation.save()
    return [q1, a1, q2, a2a, a2b]


async def test_the_list_pages_by_cursor_newest_first_without_gaps(alice, bob, alice_api):
    ids = await sync_to_async(make_conversations)(alice, 5)
    await sync_to_async(make_conversations)(bob, 2)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await alice_api.get("/conversations", **params)
        assert page.status_code == 200, page.content
        body = page.json()
        seen += [c["id"] for c in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))  # all of alice's, none of bob's, once each


async def test_the_list_leaves_archived_ones_out_unless_asked(alice, alice_api):
    ids = await sync_to_async(make_conversations)(alice, 3)
    await Conversation.objects.filter(pk=ids[0]).aupdate(archived=True)
    await Conversation.objects.filter(pk=ids[1]).aupdate(pinned=True)

    listed = (await alice_api.get("/conversations")).json()["data"]
    assert [(c["id"], c["pinned"], c["archived"]) for c in listed] == [
        (ids[2], False, False),
        (ids[1], True, False),
    ]
    archived = (await alice_api.get("/conversations", archived="true")).json()["data"]
    assert [(c["id"], c["pinned"], c["archived"]) for c in archived] == [(ids[0], False, True)]
    kept = (await alice_api.get("/conversations", archived="false")).json()["data"]
    assert [c["id"] for c in kept] == [ids[2], ids[1]]
    assert (await alice_api.get("/conversations", archived="maybe")).status_code == 400


async def test_patch_pins_archives_and_restores(alice, alice_api, capture_frames):
    from realtime import events

    ids = await sync_to_async(make_conversations)(alice, 2)
    path = f"/conversations/{ids[0]}"
    with capture_frames() as captured:
        pinned = await alice_api.send("patch", path, {"pinned": True})
        assert pinned.status_code == 200, pinned.content
        assert (pinned.json()["pinned"], pinned.json()["archived"]) == (True, False)
        archived = (await alice_api.send("patch", path, {"archived": True})).json()
        assert (archived["pinned"], archived["archived"]) == (False, True)  # archiving unpins
        assert [c["id"] for c in (await alice_api.get("/conversations")).json()["data"]] == [ids[1]]
        both = (await alice_api.send("patch", path, {"archived": False, "pinned": True})).json()
        assert (both["pinned"], both["archived"]) == (True, False)
        renamed = (await alice_api.send("patch", path, {"title": "Kept"})).json()
        assert (renamed["title"], renamed["pinned"]) == ("Kept", True)
    # Every tab of alice's hears each change (the organised frame, docs/protocol.md).
    assert [
        (f["pinned"], f["archived"])
        for f in captured.frames("organised", group=events.user_group(alice.pk))
    ] == [(True, False), (False, True), (False, False), (True, False)]


async def test_a_bad_patch_is_refused_whole_and_writes_nothing(alice, alice_api):
    from django.utils import timezone

    (chat,) = await sync_to_async(make_conversations)(alice, 1)
    path = f"/conversations/{chat}"
    both = await alice_api.send("patch", path, {"title": "New", "pinned": True, "archived": True})
    assert both.status_code == 400
    assert both.json()["error"]["code"] == "bad_flag"
    wrong = await alice_api.send("patch", path, {"pinned": "often"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["param"] == "pinned"
    empty_title = await alice_api.send("patch", path, {"title": " ", "archived": True})
    assert empty_title.json()["error"]["code"] == "empty_title"
    saved = await Conversation.objects.aget(pk=chat)
    assert (saved.title, saved.pinned, saved.archived) == ("chat 0", False, False)

    passing = await Conversation.objects.acreate(
        user=alice, title="passing", expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    refused = await alice_api.send("patch", f"/conversations/{passing.pk}", {"pinned": True})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "temporary_not_organised"
    renamed = await alice_api.send("patch", f"/conversations/{passing.pk}", {"title": "Still"})
    assert renamed.json()["title"] == "Still"


async def test_a_temporary_chat_is_created_listed_apart_and_exported_alone(
    alice, alice_api, settings
):
    settings.TEMPORARY_CHAT_HOURS = 6
    before = dt.datetime.now(dt.UTC)
    created = await alice_api.post("/conversations", {"title": "Passing", "temporary": True})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["temporary"] is True
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert (
        before + dt.timedelta(hours=6) <= expires <= dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)
    )
    normal = (await alice_api.post("/conversations", {"title": "Kept"})).json()
    assert (normal["temporary"], normal["expires_at"]) == (False, None)

    assert [c["id"] for c in (await alice_api.get("/conversations")).json()["data"]] == [
        normal["id"]
    ]
    asked = (await alice_api.get("/conversations", temporary="true")).json()["data"]
    assert [c["id"] for c in asked] == [body["id"]]
    everything = (await alice_api.get("/export")).json()["conversations"]
    assert [c["title"] for c in everything] == ["Kept"]
    alone = (await alice_api.get(f"/conversations/{body['id']}/export")).json()
    assert [c["title"] for c in alone["conversations"]] == ["Passing"]


async def test_a_bad_cursor_or_limit_is_refused(alice_api):
    assert (await alice_api.get("/conversations", cursor="nonsense!")).json()["error"][
        "code"
    ] == "invalid_request"
    refused = await alice_api.get("/conversations", limit=0)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_request"


async def test_create_rename_delete(alice, alice_api):
    created = await alice_api.post("/conversations", {"title": "Plans", "model": "fake-model-2"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["title"], body["model"]) == ("Plans", "fake-model-2")
    assert body["instructions_enabled"] is True
    renamed = await alice_api.send("patch", f"/conversations/{body['id']}", {"title": "Trips"})
    assert renamed.json()["title"] == "Trips"
    assert (await alice_api.get(f"/conversations/{body['id']}")).json()["title"] == "Trips"
    deleted = await alice_api.send("delete", f"/conversations/{body['id']}")
    assert deleted.status_code == 204
    assert not await Conversation.objects.filter(pk=body["id"]).aexists()


async def test_a_conversation_can_start_without_the_custom_instructions(alice, alice_api):
    created = await alice_api.post("/conversations", {"instructions_enabled": False})
    assert created.status_code == 201, created.content
    assert created.json()["instructions_enabled"] is False
    saved = await Conversation.objects.aget(pk=created.json()["id"])
    assert saved.instructions_enabled is False


async def test_bad_input_is_refused_and_writes_nothing(alice, alice_api, conversation):
    unknown = await alice_api.post("/conversations", {"model": "no-such-model"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "unknown_model"
    wrong_type = await alice_api.post("/conversations", {"title": 12})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"]["param"] == "title"
    empty = await alice_api.send("patch", f"/conversations/{conversation.pk}", {"title": "  "})
    assert empty.json()["error"]["code"] == "empty_title"
    assert await Conversation.objects.acount() == 1
    await conversation.arefresh_from_db()
    assert conversation.title == "New chat"


async def test_another_users_conversation_is_not_found(bob, bob_api, conversation):
    for method, path, body in [
        ("get", f"/conversations/{conversation.pk}", None),
        ("patch", f"/conversations/{conversation.pk}", {"title": "mine"}),
        ("delete", f"/conversations/{conversation.pk}", None),
        ("get", f"/conversations/{conversation.pk}/messages", None),
        ("get", f"/conversations/{conversation.pk}/export", None),
        ("post", f"/conversations/{conversation.pk}/messages", {"text": "hi"}),
        ("post", f"/conversations/{conversation.pk}/stop", None),
        ("post", f"/conversations/{conversation.pk}/switch", {"message_id": 1}),
    ]:
        if method == "get":
            response = await bob_api.get(path)
        else:
            response = await bob_api.send(method, path, body)
        assert response.status_code == 404, (method, path, response.content)
        assert response.json()["error"]["type"] == "not_found_error"
    assert await Conversation.objects.filter(pk=conversation.pk, title="New chat").aexists()
    assert not await Message.objects.aexists()


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("get", "/conversations", "conversations:read"),
        ("post", "/conversations", "conversations:write"),
        ("get", "/search?q=x", "conversations:read"),
        ("get", "/export", "conversations:read"),
        ("post", "/import", "conversations:write"),
        ("get", "/me", "usage:read"),
        ("get", "/usage", "usage:read"),
        ("get", "/models", "models:read"),
    ],
)
async def test_a_token_without_the_scope_is_refused(alice, method, path, scope):
    others = [
        s
        for s in ["chat", "models:read", "conversations:read", "conversations:write", "usage:read"]
        if s != scope
    ]
    api = await token_for(alice, others)
    if method == "get":
        response = await api.get(path)
    else:
        response = await api.post(path, {})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "insufficient_scope"
    assert scope in error["message"]
    assert not await Conversation.objects.aexists()


async def test_messages_of_the_active_path_or_every_branch_paged(alice, alice_api, conversation):
    q1, a1, q2, a2a, a2b = await sync_to_async(thread)(conversation)
    url = f"/conversations/{conversation.pk}/messages"
    active = (await alice_api.get(url)).json()
    assert [m["id"] for m in active["data"]] == [q1.pk, a1.pk, q2.pk, a2b.pk]
    assert active["next_cursor"] is None
    first = (await alice_api.get(url, branches="true", limit=3)).json()
    rest = (await alice_api.get(url, branches="true", limit=3, cursor=first["next_cursor"])).json()
    assert [m["id"] for m in first["data"] + rest["data"]] == [m.pk for m in (q1, a1, q2, a2a, a2b)]
    assert rest["next_cursor"] is None
    message = active["data"][-1]
    assert set(message) == {
        "id", "parent_id", "role", "status", "content", "html", "reasoning", "reasoning_seconds",
        "model", "finish_reason", "error_code", "error", "usage", "retry_after",
        "context_from_id", "context_cut", "rating", "seq", "created_at", "attachments",
    }  # fmt: skip
    assert message["parent_id"] == q2.pk


async def test_switching_branch_moves_the_active_path(alice, alice_api, conversation):
    a2a = (await sync_to_async(thread)(conversation))[3]
    switched = await alice_api.post(
        f"/conversations/{conversation.pk}/switch", {"message_id": a2a.pk}
    )
    assert switched.status_code == 200, switched.content
    assert switched.json()["current_leaf_id"] == a2a.pk
    active = (await alice_api.get(f"/conversations/{conversation.pk}/messages")).json()
    assert [m["id"] for m in active["data"]][-1] == a2a.pk
    missing = await alice_api.post(
        f"/conversations/{conversation.pk}/switch", {"message_id": 10**9}
    )
    assert missing.json()["error"]["code"] == "message_not_found"


async def test_export_then_import_gives_the_same_conversation(alice, alice_api, conversation):
    await sync_to_async(thread)(conversation)
    exported = await alice_api.get(f"/conversations/{conversation.pk}/export")
    assert exported.status_code == 200
    document = exported.json()
    assert document["format"] == "chatweb-export"
    imported = await alice_api.post("/import", document)
    assert imported.status_code == 201, imported.content
    [copy] = imported.json()["data"]
    assert copy["title"] == conversation.title
    assert await Message.objects.filter(conversation_id=copy["id"]).acount() == 5
    assert len((await alice_api.get("/export")).json()["conversations"]) == 2


async def test_a_bad_import_is_refused_and_writes_nothing(alice, alice_api):
    for raw in ("{not json", json.dumps({"format": "chatweb-export", "version": 99})):
        refused = await alice_api.client.post(
            "/api/v1/import", data=raw, content_type="application/json",
            headers=alice_api.headers(),
        )  # fmt: skip
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "import_refused"
    assert not await Conversation.objects.aexists()


async def test_search_finds_only_the_users_own(alice, bob, alice_api, conversation):
    await sync_to_async(thread)(conversation)
    other = await Conversation.objects.acreate(user=bob, title="q2 of bob")
    found = (await alice_api.get("/search", q="q2")).json()["data"]
    assert {hit["conversation_id"] for hit in found} == {conversation.pk}
    assert other.pk not in {hit["conversation_id"] for hit in found}


async def test_no_token_and_a_bad_token_are_unauthenticated(alice):
    for api in (Api(None), Api("cwp_notatoken")):
        refused = await api.get("/conversations")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert refused["WWW-Authenticate"].startswith("Bearer")


async def test_temporary_chats_are_listed_only_when_asked(alice, alice_api):
    from django.utils import timezone

    normal = await Conversation.objects.acreate(user=alice, title="normal")
    expires_at = timezone.now()
    temporary = await Conversation.objects.acreate(
        user=alice, title="temporary", expires_at=expires_at
    )
    listed = (await alice_api.get("/conversations")).json()["data"]
    assert [(c["id"], c["temporary"], c["expires_at"]) for c in listed] == [
        (normal.pk, False, None)
    ]
    asked = (await alice_api.get("/conversations", temporary="true")).json()["data"]
    assert [(c["id"], c["temporary"]) for c in asked] == [(temporary.pk, True)]
    assert asked[0]["expires_at"] == expires_at.isoformat()
    exported = (await alice_api.get("/export")).json()["conversations"]
    assert [c["title"] for c in exported] == ["normal"]
