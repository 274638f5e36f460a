"""Who is calling the API: a personal access token's owner, or (the conversation API
only) the signed-in page's session. Scopes and the model allowlist bind a token; a
session may do what its user may do on the page, except make tokens with a token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from channels.db import database_sync_to_async
from django.http import HttpRequest
from django.utils import timezone

from accounts import api_tokens, timezones
from accounts.models import ApiToken
from accounts.protection import client_address

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class Caller:
    user: AbstractBaseUser
    token: ApiToken | None  # None: the page's signed-in session
    # The token owner's time zone (accounts.timezones); None: the server's, or a session
    # (whose zone the middleware activated).
    zone: ZoneInfo | None = None

    def activate_zone(self) -> None:
        """The owner's zone for the rest of the request, in the calling context (a view
        that authenticated in a task of its own activates it again here)."""
        if self.token is not None:
            _activate(self.zone)

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
    expired token, or a deactivated owner). In the database thread.

    The owner's time zone is activated for the rest of the request (the middleware saw
    no signed-in user): a refusal's reset time reads in it."""
    token = api_tokens.authenticate(token_of(request), address=client_address(request) or None)
    caller = Caller(user=token.user, token=token, zone=timezones.user_zone(token.user))
    caller.activate_zone()
    return caller


def _activate(zone: ZoneInfo | None) -> None:
    if zone is None:
        timezone.deactivate()
    else:
        timezone.activate(zone)


async def aauthenticate(request: HttpRequest) -> Caller:
    caller: Caller = await database_sync_to_async(authenticate)(request)
    # Activated here too: the database thread's context is not this one's.
    caller.activate_zone()
    return caller
