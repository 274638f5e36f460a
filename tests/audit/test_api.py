"""The API's actions are recorded like the pages' (the same functions record them), with
the caller's address: the request reaches audit.record through the async middleware and
the database thread."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from audit.models import Action, AuditEvent
from conversations.models import Conversation, Message
from tests.api.conftest import Api, make_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def entries(action: Action) -> list[AuditEvent]:
    return [e async for e in AuditEvent.objects.filter(action=action).order_by("id")]


def a_conversation(user) -> None:
    chat = Conversation.objects.create(user=user, title="Plans", model="fake-model")
    Message.objects.create(conversation=chat, role="user", content="Hi", status="done")


async def test_an_export_and_an_import_over_the_api_are_recorded(alice):
    await sync_to_async(a_conversation)(alice)
    api = Api(await sync_to_async(make_token)(alice, ["conversations:read", "conversations:write"]))

    exported = await api.get("/export")
    imported = await api.post("/import", exported.json())

    assert imported.status_code == 201, imported.content
    [export] = await entries(Action.EXPORT)
    [done] = await entries(Action.IMPORT)
    for event in (export, done):
        assert (event.actor_id, event.actor_username) == (alice.pk, "alice")
        assert (event.target_type, event.target_label) == ("auth.user", "alice")
        assert event.address == "127.0.0.1"


async def test_a_token_made_and_revoked_over_the_api_is_recorded(alice):
    client = AsyncClient()
    await client.aforce_login(alice)

    made = await client.post(
        "/api/v1/tokens", {"name": "ci", "scopes": ["chat"]}, content_type="application/json"
    )
    public_id = made.json()["token"]["id"]
    revoked = await client.delete(f"/api/v1/tokens/{public_id}")

    assert revoked.status_code == 204
    [create] = await entries(Action.TOKEN_CREATE)
    [revoke] = await entries(Action.TOKEN_REVOKE)
    for event in (create, revoke):
        assert (event.actor_username, event.target_id, event.target_label) == (
            "alice", public_id, "ci",
        )  # fmt: skip
        assert event.address == "127.0.0.1"
    assert made.json()["secret"] not in str(create.details)
