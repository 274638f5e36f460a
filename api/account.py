"""The caller's account over /api/v1: who they are, their limits and usage, their models."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest
from ninja import Router

from accounts import api_tokens
from accounts.models import ApiToken, settings_for
from api import schemas
from api.auth import Caller
from api.v1 import caller_of
from catalog import config as catalog
from catalog import quotas, usage
from conversations.models import Message

router = Router(tags=["account"])


def token_out(token: ApiToken) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": token.public_id,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "models_allowed": list(token.models_allowed),
        "requests_per_hour": token.requests_per_hour,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat(),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }


def _limits(caller: Caller) -> dict[str, Any]:
    limits = quotas.limits_for(caller.user)
    return {
        "requests_per_hour": limits.requests_per_hour,
        "tokens_per_day": limits.tokens_per_day,
        "tokens_per_month": limits.tokens_per_month,
        "concurrent_answers": limits.concurrent_answers,
        "token_requests_per_hour": caller.token.requests_per_hour if caller.token else None,
    }


def _now(caller: Caller) -> dict[str, int]:
    user_id = int(caller.user.pk or 0)
    live = Message.objects.filter(
        conversation__user_id=user_id, role=Message.Role.ASSISTANT, status__in=Message.LIVE
    ).count()
    return {
        "requests_this_hour": quotas.requests_this_hour(user_id),
        "tokens_today": usage.tokens_since(user_id, usage.day_start()),
        "tokens_this_month": usage.tokens_since(user_id, usage.month_start()),
        "answers_being_written": live,
    }


def _me(caller: Caller) -> dict[str, Any]:
    return {
        "user": {"id": caller.user.pk, "username": caller.user.get_username()},
        "limits": _limits(caller),
        "usage": _now(caller),
        "token": token_out(caller.token) if caller.token is not None else None,
    }


@router.get(
    "/me",
    response={200: schemas.Me, schemas.REFUSALS: schemas.ErrorBody},
    summary="Who is calling: the user, their effective limits, usage today and this month",
    description="Scope `usage:read`. Limits of 0 mean no limit.",
)
async def me(request: HttpRequest) -> Any:
    caller = caller_of(request, "usage:read")
    return await database_sync_to_async(_me)(caller)


def _usage(caller: Caller) -> dict[str, Any]:
    rows = usage.month_by_model(int(caller.user.pk or 0))
    return {
        "month_start": usage.month_start().isoformat(),
        "by_model": [
            {
                "model": row["model"],
                "requests": int(row["requests"]),
                "prompt_tokens": int(row["prompt"] or 0),
                "completion_tokens": int(row["completion"] or 0),
                "total_tokens": int(row["total"] or 0),
            }
            for row in rows
        ],
        "now": _now(caller),
        "limits": _limits(caller),
    }


@router.get(
    "/usage",
    response={200: schemas.UsageOut, schemas.REFUSALS: schemas.ErrorBody},
    summary="This month's usage by model, and the limits",
    description="Scope `usage:read`. Web, API and /v1 answers alike.",
)
async def usage_view(request: HttpRequest) -> Any:
    caller = caller_of(request, "usage:read")
    return await database_sync_to_async(_usage)(caller)


def _models(caller: Caller) -> list[dict[str, Any]]:
    choices = catalog.models_for(caller.user)
    names = [c.name for c in choices]
    if caller.token is not None:
        names = api_tokens.visible_models(caller.token, names)
    # What POST /conversations without a model uses (api.conversations._create).
    default = catalog.default_for(
        caller.user, settings_for(caller.user).default_model, choices=choices
    )
    return [
        {"id": c.name, "label": c.label, "default": c.name == default}
        for c in choices
        if c.name in names
    ]


@router.get(
    "/models",
    response={200: schemas.ModelList, schemas.REFUSALS: schemas.ErrorBody},
    summary="The models the caller may use",
    description="Scope `models:read`. The user's models, narrowed by the token's allowlist.",
)
async def models(request: HttpRequest) -> Any:
    caller = caller_of(request, "models:read")
    return {"data": await database_sync_to_async(_models)(caller)}
