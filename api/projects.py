"""Projects over /api/v1 (#22): list and create the user's projects, and put a
conversation in one (or out). The same workflows as the pages (conversations.projects)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest
from ninja import Router, Status

from api import schemas
from api.conversations import _owned, conversation_out
from api.schemas import Id
from api.v1 import caller_of
from conversations import projects
from conversations.models import Project

router = Router(tags=["projects"])


def project_out(p: Project) -> dict[str, Any]:
    return {
        "id": p.pk,
        "name": p.name,
        "instructions": p.instructions,
        "default_model": p.default_model,
        "created_at": p.created_at.isoformat(),
    }


def _list(user: Any) -> list[dict[str, Any]]:
    return [project_out(p) for p in Project.objects.for_user(user)]


@router.get(
    "/projects",
    response={200: schemas.ProjectList, schemas.REFUSALS: schemas.ErrorBody},
    summary="The user's projects, by name",
    description="Scope `conversations:read`.",
)
async def list_projects(request: HttpRequest) -> Any:
    caller = caller_of(request, "conversations:read")
    return {"data": await database_sync_to_async(_list)(caller.user)}


def _create(user: Any, body: schemas.ProjectCreate) -> Project:
    return projects.create_project(
        user=user,
        name=body.name,
        instructions=body.instructions,
        default_model=body.default_model or "",
    )


@router.post(
    "/projects",
    response={201: schemas.ProjectOut, schemas.REFUSALS: schemas.ErrorBody},
    summary="Create a project",
    description="Scope `conversations:write`. A name the user already has is refused "
    "(409 `project_exists`).",
)
async def create_project(request: HttpRequest, body: schemas.ProjectCreate) -> Any:
    caller = caller_of(request, "conversations:write")
    created = await database_sync_to_async(_create)(caller.user, body)
    return Status(201, project_out(created))


def _move(user: Any, conversation_id: int, project_id: int | None) -> Any:
    conversation = _owned(user, conversation_id)
    projects.move_conversation(conversation=conversation, project_id=project_id)
    return conversation_out(conversation)


@router.put(
    "/conversations/{conversation_id}/project",
    response={200: schemas.ConversationOut, schemas.REFUSALS: schemas.ErrorBody},
    summary="Put a conversation in a project, or take it out (null)",
    description="Scope `conversations:write`. Another user's project is 404 "
    "`project_not_found`; a temporary chat is 400 `temporary_not_in_project`. Two moves at "
    "once: the last one wins.",
)
async def move_conversation(
    request: HttpRequest, conversation_id: Id, body: schemas.ProjectMove
) -> Any:
    caller = caller_of(request, "conversations:write")
    return await database_sync_to_async(_move)(caller.user, conversation_id, body.project)
