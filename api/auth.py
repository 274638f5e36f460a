"""Who is calling the API: a personal access token's owner, or (the conversation API
only) the signed-in page's session. Scopes and the model allowlist bind a token; a
session may do what its user may do on the page, except make tokens with a token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.http import HttpRequest

from accounts import api_tokens
from accounts.models import ApiToken
from accounts.protection import client_address

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class Caller:
    user: AbstractBaseUser
    token: ApiToken | None  # None: the page's signed-in session

    def require(self, scope: str) -> None:
        """ProtocolError("insufficient_scope") unless the token has `scope` (a session
        has every scope its user has)."""
        if self.token is not None:
            api_tokens.require_scope(self.token, scope)

    def check_model(self, model: str) -> None:
        """ProtocolError("model_not_allowed") for a model outside the token's allowlist."""
        if self.token is not None:
            api_tokens.check_model(self.token, model)


def token_of(request: HttpRequest) -> str | None:
    return api_tokens.from_headers(
        request.headers.get("Authorization"), request.headers.get("X-Api-Key")
    )


def authenticate(request: HttpRequest) -> Caller:
    """The token's caller (ProtocolError for a missing, malformed, unknown, revoked or
    expired token, or a deactivated owner). In the database thread."""
    token = api_tokens.authenticate(token_of(request), address=client_address(request) or None)
    return Caller(user=token.user, token=token)


async def aauthenticate(request: HttpRequest) -> Caller:
    caller: Caller = await database_sync_to_async(authenticate)(request)
    return caller
