"""The user's API tokens over /api/v1, for a signed-in session only: a token can neither
see nor make nor revoke tokens (insufficient_scope)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from accounts import api_tokens
from accounts.models import ApiToken
from api import schemas
from api.account import token_out
from api.v1 import session_only
from realtime.codes import ProtocolError

router = Router(tags=["tokens"])


def _list(user: Any) -> list[dict[str, Any]]:
    return [token_out(t) for t in ApiToken.objects.filter(user_id=user.pk)]


@router.get(
    "/tokens",
    response={200: schemas.TokenList, schemas.REFUSALS: schemas.ErrorBody},
    summary="The user's tokens, revoked ones included",
    description="Signed-in session only.",
)
async def list_tokens(request: HttpRequest) -> Any:
    caller = session_only(request)
    return {"data": await database_sync_to_async(_list)(caller.user)}


@router.post(
    "/tokens",
    response={201: schemas.TokenCreated, schemas.REFUSALS: schemas.ErrorBody},
    summary="Make a token (its secret is in this response only)",
    description="Signed-in session only.",
)
async def create_token(request: HttpRequest, body: schemas.TokenCreate) -> Any:
    caller = session_only(request)
    issued = await database_sync_to_async(api_tokens.create)(
        user=caller.user,
        name=body.name,
        scopes=list(body.scopes),
        days=body.days,
        models_allowed=body.models_allowed,
        requests_per_hour=body.requests_per_hour,
    )
    return Status(201, {"token": token_out(issued.token), "secret": issued.secret})


def _revoke(user: Any, public_id: str) -> None:
    token = ApiToken.objects.filter(user_id=user.pk, public_id=public_id).first()
    if token is None:
        raise ProtocolError("token_not_found", _("You have no API token with this id."))
    api_tokens.revoke(token, by=user)


@router.delete(
    "/tokens/{public_id}",
    response={204: None, schemas.REFUSALS: schemas.ErrorBody},
    summary="Revoke a token",
    description="Signed-in session only. The row stays, for audit.",
)
async def revoke_token(request: HttpRequest, public_id: str) -> Any:
    caller = session_only(request)
    await database_sync_to_async(_revoke)(caller.user, public_id)
    return Status(204, None)
