"""/api/v1 projects (#22): list and create, a conversation's `project` shown and set (in,
out, refused for another user's project or a temporary chat), search kept to a project."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message, Project
from tests.api.conftest import token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@sync_to_async
def chat(user: Any, **fields: Any) -> Conversation:
    return Conversation.objects.create(user=user, title="Roses", model="fake-model", **fields)


@sync_to_async
def project_of(conversation_id: int) -> int | None:
    return Conversation.objects.get(pk=conversation_id).project_id


async def test_create_then_list(alice_api, bob_api):
    created = await alice_api.post(
        "/projects", {"name": "Garden", "instructions": "Latin", "default_model": "fake-model"}
    )
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "Garden"
    again = await alice_api.post("/projects", {"name": "Garden"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "project_exists"
    listed = (await alice_api.get("/projects")).json()["data"]
    assert [p["name"] for p in listed] == ["Garden"]
    assert (await bob_api.get("/projects")).json()["data"] == []


async def test_a_blank_name_is_refused_and_nothing_written(alice_api):
    refused = await alice_api.post("/projects", {"name": " \u200b "})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "project_name"
    assert not await Project.objects.aexists()


async def test_a_conversations_project_is_shown_and_set(alice, bob, alice_api):
    garden = await Project.objects.acreate(user=alice, name="Garden")
    bobs = await Project.objects.acreate(user=bob, name="Bob's")
    conversation = await chat(alice)
    path = f"/conversations/{conversation.pk}/project"
    moved = await alice_api.send("put", path, {"project": garden.pk})
    assert moved.status_code == 200, moved.content
    assert moved.json()["project"] == garden.pk
    shown = await alice_api.get(f"/conversations/{conversation.pk}")
    assert shown.json()["project"] == garden.pk
    refused = await alice_api.send("put", path, {"project": bobs.pk})
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "project_not_found"
    assert await project_of(conversation.pk) == garden.pk
    out = await alice_api.send("put", path, {"project": None})
    assert out.json()["project"] is None
    assert await project_of(conversation.pk) is None


async def test_a_temporary_chat_is_refused(alice, alice_api):
    garden = await Project.objects.acreate(user=alice, name="Garden")
    conversation = await chat(alice, expires_at="2099-01-01T00:00:00Z")
    refused = await alice_api.send(
        "put", f"/conversations/{conversation.pk}/project", {"project": garden.pk}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "temporary_not_in_project"
    assert await project_of(conversation.pk) is None


async def test_a_token_without_write_scope_cannot_move(alice):
    garden = await Project.objects.acreate(user=alice, name="Garden")
    conversation = await chat(alice)
    reader = await token_for(alice, ["conversations:read"])
    refused = await reader.send(
        "put", f"/conversations/{conversation.pk}/project", {"project": garden.pk}
    )
    assert refused.status_code == 403
    assert await project_of(conversation.pk) is None


@sync_to_async
def two_chats(user: Any, project: Project) -> tuple[Conversation, Conversation]:
    inside = Conversation.objects.create(user=user, title="Roses inside", project=project)
    outside = Conversation.objects.create(user=user, title="Roses outside")
    for c in (inside, outside):
        Message.objects.create(conversation=c, role="user", content="about roses")
    return inside, outside


async def test_search_kept_to_a_project(alice, bob, alice_api):
    garden = await Project.objects.acreate(user=alice, name="Garden")
    bobs = await Project.objects.acreate(user=bob, name="Bob's")
    inside, outside = await two_chats(alice, garden)
    everywhere = (await alice_api.get("/search", q="roses")).json()["data"]
    assert {h["conversation_id"] for h in everywhere} == {inside.pk, outside.pk}
    kept = (await alice_api.get("/search", q="roses", project=garden.pk)).json()["data"]
    assert {h["conversation_id"] for h in kept} == {inside.pk}
    refused = await alice_api.get("/search", q="roses", project=bobs.pk)
    assert refused.status_code == 404
