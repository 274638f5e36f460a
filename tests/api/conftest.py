"""/api/v1 fixtures: tokens for the personas, and a client that sends one; /v1's live
daphne (tests/api/v1_server.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from accounts import api_tokens
from tests.api.live import api_server  # noqa: F401  (fixture: /api/v1 live, per session)
from tests.api.v1_server import v1  # noqa: F401  (fixture: /v1's live daphne, per session)
from tests.upstream import fake_upstream_server  # noqa: F401  (fixture)

ALL_SCOPES = ["chat", "models:read", "conversations:read", "conversations:write", "usage:read"]


def make_token(user: Any, scopes: list[str] | None = None, **fields: Any) -> str:
    fields.setdefault("name", "script")
    issued = api_tokens.create(user=user, scopes=scopes or ALL_SCOPES, **fields)
    return issued.secret


class Api:
    """An AsyncClient that sends `Authorization: Bearer <token>` (or nothing)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.client = AsyncClient()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **(extra or {})}

    async def get(self, path: str, **params: Any) -> Any:
        return await self.client.get(f"/api/v1{path}", params, headers=self.headers())

    async def send(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        call = getattr(self.client, method)
        return await call(
            f"/api/v1{path}",
            data=json.dumps(body) if body is not None else "",
            content_type="application/json",
            headers=self.headers(headers),
        )

    async def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return await self.send("post", path, body, **headers)


@pytest.fixture
def alice_token(alice: Any) -> str:
    return make_token(alice)


@pytest.fixture
def alice_api(alice_token: str) -> Api:
    return Api(alice_token)


@pytest.fixture
def bob_api(bob: Any) -> Api:
    return Api(make_token(bob))


async def token_for(user: Any, scopes: list[str] | None = None, **fields: Any) -> Api:
    return Api(await sync_to_async(make_token)(user, scopes, **fields))
