"""/api/v1 me, usage, models, and the token endpoints (a signed-in session only)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from accounts.models import ApiToken, UserSettings
from api import openai_views
from api.auth import Caller
from catalog.models import Quota, SiteSettings
from tests.api.conftest import Api, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def session(user: Any) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def test_me_gives_the_user_effective_limits_and_usage(alice, alice_api):
    await Quota.objects.acreate(user=alice, tokens_per_day=5000, requests_per_hour=30)
    me = await alice_api.get("/me")
    assert me.status_code == 200, me.content
    body = me.json()
    assert body["user"]["username"] == "alice"
    assert body["limits"]["tokens_per_day"] == 5000
    assert body["limits"]["requests_per_hour"] == 30
    assert body["usage"] == {
        "requests_this_hour": 0,
        "tokens_today": 0,
        "tokens_this_month": 0,
        "answers_being_written": 0,
    }
    assert body["token"]["scopes"]
    assert "secret" not in json.dumps(body)


async def test_usage_and_models(alice, alice_api):
    usage = await alice_api.get("/usage")
    assert usage.status_code == 200
    assert usage.json()["by_model"] == []
    models = (await alice_api.get("/models")).json()["data"]
    assert [m["id"] for m in models] == ["fake-model", "fake-model-2"]
    narrowed = await token_for(alice, ["models:read"], models_allowed=["fake-model-2"])
    assert [m["id"] for m in (await narrowed.get("/models")).json()["data"]] == ["fake-model-2"]


async def test_models_say_which_one_a_new_conversation_starts_with(alice, alice_api):
    """Both APIs list the models in the picker's order, the site default first, and
    /api/v1 marks the one POST /conversations without a model uses (#20, item 4)."""
    data = (await alice_api.get("/models")).json()["data"]
    assert [(m["id"], m["default"]) for m in data] == [
        ("fake-model", True), ("fake-model-2", False),
    ]  # fmt: skip
    await SiteSettings.objects.acreate(default_model="fake-model-2")
    data = (await alice_api.get("/models")).json()["data"]
    assert [(m["id"], m["default"]) for m in data] == [
        ("fake-model-2", True), ("fake-model", False),
    ]  # fmt: skip
    created = await alice_api.post("/conversations", {})
    assert created.json()["model"] == "fake-model-2"
    token = await ApiToken.objects.aget(user=alice)
    v1 = await sync_to_async(openai_views._models)(Caller(user=alice, token=token))
    assert [m["id"] for m in v1["data"]] == ["fake-model-2", "fake-model"]
    # A saved default of the user's own is theirs, in /api/v1 and in a new conversation.
    await UserSettings.objects.acreate(user=alice, default_model="fake-model")
    data = (await alice_api.get("/models")).json()["data"]
    assert [m["id"] for m in data if m["default"]] == ["fake-model"]
    created = await alice_api.post("/conversations", {})
    assert created.json()["model"] == "fake-model"
    # A token whose allowlist leaves the default out marks none.
    narrowed = await token_for(alice, ["models:read"], models_allowed=["fake-model-2"])
    data = (await narrowed.get("/models")).json()["data"]
    assert [(m["id"], m["default"]) for m in data] == [("fake-model-2", False)]


async def test_a_session_makes_lists_and_revokes_tokens(alice):
    client = await session(alice)
    made = await client.post(
        "/api/v1/tokens",
        data=json.dumps({"name": "ci", "scopes": ["chat"], "days": 7}),
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    secret = made.json()["secret"]
    public_id = made.json()["token"]["id"]
    assert secret.startswith("cwp_")
    listed = (await client.get("/api/v1/tokens")).json()["data"]
    assert [t["id"] for t in listed] == [public_id]
    assert secret not in json.dumps(listed)  # shown once, never again
    works = await Api(secret).get("/messages/1/events")
    assert works.status_code == 404  # authenticated; the message just does not exist
    revoked = await client.delete(f"/api/v1/tokens/{public_id}")
    assert revoked.status_code == 204
    refused = await Api(secret).get("/messages/1/events")
    assert refused.json()["error"]["code"] == "token_revoked"
    assert (await client.delete("/api/v1/tokens/tok_nope")).status_code == 404


async def test_bad_token_settings_are_refused_and_make_nothing(alice):
    client = await session(alice)
    for body in (
        {"name": "", "scopes": ["chat"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["chat"], "days": 100000},
        {"name": "x", "scopes": ["chat"], "models_allowed": ["not-mine"]},
        {"name": "x", "scopes": ["everything"]},
    ):
        refused = await client.post(
            "/api/v1/tokens", data=json.dumps(body), content_type="application/json"
        )
        assert refused.status_code == 400, body
        assert refused.json()["error"]["code"] in ("invalid_token_settings", "invalid_request")
    assert not await ApiToken.objects.aexists()


async def test_a_token_cannot_call_the_token_endpoints(alice, alice_api, alice_token):
    existing = await ApiToken.objects.aget()
    for method, path in [
        ("get", "/tokens"),
        ("post", "/tokens"),
        ("delete", f"/tokens/{existing.public_id}"),
    ]:
        if method == "get":
            refused = await alice_api.get(path)
        else:
            refused = await alice_api.send(method, path, {"name": "x", "scopes": ["chat"]})
        assert refused.status_code == 403, (method, path)
        assert refused.json()["error"]["code"] == "insufficient_scope"
    assert await ApiToken.objects.acount() == 1
    await existing.arefresh_from_db()
    assert existing.revoked_at is None


async def test_the_docs_are_for_signed_in_users_and_the_schema_is_public(alice):
    anonymous = AsyncClient()
    assert (await anonymous.get("/api/v1/docs")).status_code == 302
    schema = await anonymous.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert "/api/v1/messages/{message_id}/events" in schema.json()["paths"]
    signed_in = await session(alice)
    docs = await signed_in.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
