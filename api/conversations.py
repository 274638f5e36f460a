"""Conversations over /api/v1: list (cursor-paged), create, rename/pin/archive, delete, messages,
export and import, search. Ownership is enforced by Conversation.objects.for_user: another
user's ids answer 404, as missing ones do."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Q, prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from accounts.models import settings_for
from api import schemas
from api.events import localized
from api.schemas import Id
from api.v1 import caller_of
from catalog import config as catalog
from conversations import actions, organise, projects, search, transfer
from conversations.actions import ActionError
from conversations.models import Conversation, Message
from realtime.codes import ProtocolError

router = Router(tags=["conversations"])

MAX_PAGE = 100


class PageQuery(Schema):
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=MAX_PAGE)


class ConversationsQuery(PageQuery):
    temporary: bool = Field(
        False,
        description="List the temporary chats (left out otherwise) instead of the others.",
    )
    archived: bool = Field(
        False, description="List the archived ones (left out otherwise) instead of the others."
    )


class MessagesQuery(PageQuery):
    branches: bool = Field(False, description="Every branch, not only the active path.")
    limit: int = Field(50, ge=1, le=MAX_PAGE)


def conversation_out(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.pk,
        "title": c.title,
        "model": c.model,
        "system_prompt": c.system_prompt,
        "context_enabled": c.context_enabled,
        "pinned": c.pinned,
        "archived": c.archived,
        "instructions_enabled": c.instructions_enabled,
        "current_leaf_id": c.current_leaf_id,
        "compare_with_id": c.compare_with_id,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
        "temporary": c.is_temporary,
        "expires_at": c.expires_at.isoformat() if c.expires_at else None,
        "project": c.project_id,
    }


def _bad_cursor() -> ProtocolError:
    return ProtocolError("invalid_request", _("This cursor is not one this API gave."))


def _encode(*parts: object) -> str:
    return base64.urlsafe_b64encode("|".join(str(p) for p in parts).encode()).decode()


def _decode(cursor: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (binascii.Error, UnicodeError, ValueError):
        raise _bad_cursor() from None


def _owned(user: Any, conversation_id: int) -> Conversation:
    found = Conversation.objects.for_user(user).filter(pk=conversation_id).first()
    if found is None:
        raise ActionError("not_found", _("This conversation was deleted."))
    return found


# --- Conversations ----------------------------------------------------------------------------


def _list(
    user: Any, cursor: str | None, limit: int, temporary: bool, archived: bool
) -> dict[str, Any]:
    rows = Conversation.objects.for_user(user).order_by("-updated_at", "-id")
    rows = rows.filter(expires_at__isnull=not temporary, archived=archived)
    if cursor:
        parts = _decode(cursor)
        try:
            updated, last_id = dt.datetime.fromisoformat(parts[0]), int(parts[1])
        except (IndexError, ValueError):
            raise _bad_cursor() from None
        rows = rows.filter(Q(updated_at__lt=updated) | Q(updated_at=updated, id__lt=last_id))
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    last = page[-1] if page else None
    return {
        "data": [conversation_out(c) for c in page],
        "next_cursor": _encode(last.updated_at.isoformat(), last.pk) if more and last else None,
    }


@router.get(
    "/conversations",
    response={200: schemas.ConversationPage, schemas.REFUSALS: schemas.ErrorBody},
    summary="The user's conversations, most recently active first",
    description="Scope `conversations:read`. Cursor-paged: pass `next_cursor` as `cursor`. "
    "Temporary and archived chats are left out; `temporary=true` lists only the temporary "
    "ones, `archived=true` only the archived ones.",
)
async def list_conversations(request: HttpRequest, query: Query[ConversationsQuery]) -> Any:
    caller = caller_of(request, "conversations:read")
    return await database_sync_to_async(_list)(
        caller.user, query.cursor, query.limit, query.temporary, query.archived
    )


def _create(user: Any, body: schemas.ConversationCreate, allowed: Any) -> Conversation:
    preferences = settings_for(user)
    try:
        if body.model:
            model = catalog.check_allowed(user, body.model)
        else:
            model = catalog.default_for(user, preferences.default_model)
            model = model or catalog.check_allowed(user, None)
    except catalog.ModelUnavailable as exc:
        raise ActionError(exc.code, exc.message) from exc
    allowed(model)
    title = "New chat"
    if body.title is not None:
        title = actions.title_from_text(body.title)
    system_prompt = preferences.system_prompt if body.system_prompt is None else body.system_prompt
    if len(system_prompt) > actions.MAX_MESSAGE_CHARS:
        raise ActionError("too_long", _("The system prompt is too long."))
    return Conversation.objects.create(
        user_id=user.pk,
        title=title,
        model=model,
        system_prompt=system_prompt,
        instructions_enabled=body.instructions_enabled,
        expires_at=actions.temporary_expiry() if body.temporary else None,
    )


@router.post(
    "/conversations",
    response={201: schemas.ConversationOut, schemas.REFUSALS: schemas.ErrorBody},
    summary="Create an empty conversation",
    description="Scope `conversations:write`. Post its first message with "
    "POST /conversations/{id}/messages.",
)
async def create_conversation(request: HttpRequest, body: schemas.ConversationCreate) -> Any:
    caller = caller_of(request, "conversations:write")
    created = await database_sync_to_async(_create)(caller.user, body, caller.check_model)
    return Status(201, conversation_out(created))


@router.get(
    "/conversations/{conversation_id}",
    response={200: schemas.ConversationOut, schemas.REFUSALS: schemas.ErrorBody},
    summary="One conversation",
    description="Scope `conversations:read`.",
)
async def get_conversation(request: HttpRequest, conversation_id: Id) -> Any:
    caller = caller_of(request, "conversations:read")
    found = await database_sync_to_async(_owned)(caller.user, conversation_id)
    return conversation_out(found)


def _update(user: Any, conversation_id: int, body: schemas.ConversationPatch) -> Conversation:
    conversation = _owned(user, conversation_id)
    organise.update(
        conversation=conversation, title=body.title, pinned=body.pinned, archived=body.archived
    )
    return conversation


@router.patch(
    "/conversations/{conversation_id}",
    response={200: schemas.ConversationOut, schemas.REFUSALS: schemas.ErrorBody},
    summary="Rename, pin, unpin, archive or restore a conversation",
    description="Scope `conversations:write`. Only the fields sent change, all or none "
    "(`bad_flag` for pinned and archived both true; `temporary_not_organised` for pinning "
    "or archiving a temporary chat). Every tab of the owner shows the change at once.",
)
async def update_conversation(
    request: HttpRequest, conversation_id: Id, body: schemas.ConversationPatch
) -> Any:
    caller = caller_of(request, "conversations:write")
    updated = await database_sync_to_async(_update)(caller.user, conversation_id, body)
    return conversation_out(updated)


def _delete(user: Any, conversation_id: int) -> None:
    organise.delete_conversation(conversation=_owned(user, conversation_id))


@router.delete(
    "/conversations/{conversation_id}",
    response={204: None, schemas.REFUSALS: schemas.ErrorBody},
    summary="Delete a conversation",
    description="Scope `conversations:write`. An answer being written is stopped.",
)
async def delete_conversation(request: HttpRequest, conversation_id: Id) -> Any:
    caller = caller_of(request, "conversations:write")
    await database_sync_to_async(_delete)(caller.user, conversation_id)
    return Status(204, None)


# --- Messages ---------------------------------------------------------------------------------


def _messages(user: Any, conversation_id: int, query: MessagesQuery) -> tuple[list[Message], bool]:
    conversation = _owned(user, conversation_id)
    rows = conversation.all_messages() if query.branches else conversation.active_path()
    start = 0
    if query.cursor:
        parts = _decode(query.cursor)
        try:
            after = int(parts[0])
        except (IndexError, ValueError):
            raise _bad_cursor() from None
        ids = [m.pk for m in rows]
        if after not in ids:
            # The branch changed, or the message was deleted, since the last page.
            raise _bad_cursor()
        start = ids.index(after) + 1
    page = rows[start : start + query.limit + 1]
    shown = page[: query.limit]
    # Their files read here, in one query (as_event() runs on the event loop, later).
    with_files = [m for m in shown if m.attachment_count]
    prefetch_related_objects(with_files, "attachments")
    for message in with_files:
        message.attachment_list()
    return shown, len(page) > query.limit


@router.get(
    "/conversations/{conversation_id}/messages",
    response={200: schemas.MessagePage, schemas.REFUSALS: schemas.ErrorBody},
    summary="The messages of a conversation, oldest first",
    description="Scope `conversations:read`. The active path (what the page shows), or "
    "every branch with `branches=true` (each message names its `parent_id`). Cursor-paged.",
)
async def list_messages(
    request: HttpRequest, conversation_id: Id, query: Query[MessagesQuery]
) -> Any:
    caller = caller_of(request, "conversations:read")
    page, more = await database_sync_to_async(_messages)(caller.user, conversation_id, query)
    language = translation.get_language()
    return {
        "data": [localized(m.as_event(), language) for m in page],
        "next_cursor": _encode(page[-1].pk) if more and page else None,
    }


def _rate(user: Any, conversation_id: int, message_id: int, rating: str | None) -> Message:
    conversation = _owned(user, conversation_id)
    return actions.rate_answer(
        conversation=conversation, message_id=message_id, rating=rating or ""
    )


@router.put(
    "/conversations/{conversation_id}/messages/{message_id}/rating",
    response={200: schemas.MessageOut, schemas.REFUSALS: schemas.ErrorBody},
    summary="Rate an answer: thumbs up, down, or neither",
    description="Scope `conversations:write`. `rating` is `up`, `down`, or null to take it "
    "back (400 `bad_rating` otherwise). Only a finished answer is rated (409 `not_ratable`). "
    "Admins filter answers by rating in the admin.",
)
async def rate_message(
    request: HttpRequest, conversation_id: Id, message_id: Id, body: schemas.RatingIn
) -> Any:
    caller = caller_of(request, "conversations:write")
    rated = await database_sync_to_async(_rate)(
        caller.user, conversation_id, message_id, body.rating
    )
    return localized(rated.as_event(), translation.get_language())


# --- Export, import, search -------------------------------------------------------------------


def _export(user: Any, conversation_id: int | None) -> HttpResponse:
    """The document as the pages' download has it (attachments' bytes base64-encoded:
    written out here, in the worker thread, as the whole document already was)."""
    conversation = _owned(user, conversation_id) if conversation_id is not None else None
    document = transfer.export_user(user=user, conversation=conversation)
    return HttpResponse(
        "".join(transfer.json_chunks(document)), content_type="application/json; charset=utf-8"
    )


@router.get(
    "/export",
    response={200: dict[str, Any], schemas.REFUSALS: schemas.ErrorBody},
    summary="Export every conversation (chatweb-export, version 1)",
    description="Scope `conversations:read`. The document POST /import takes back.",
)
async def export_all(request: HttpRequest) -> Any:
    caller = caller_of(request, "conversations:read")
    return await database_sync_to_async(_export)(caller.user, None)


@router.get(
    "/conversations/{conversation_id}/export",
    response={200: dict[str, Any], schemas.REFUSALS: schemas.ErrorBody},
    summary="Export one conversation, every branch",
    description="Scope `conversations:read`.",
)
async def export_one(request: HttpRequest, conversation_id: Id) -> Any:
    caller = caller_of(request, "conversations:read")
    return await database_sync_to_async(_export)(caller.user, conversation_id)


def _import(user: Any, raw: bytes) -> list[Conversation]:
    if len(raw) > settings.IMPORT_MAX_BYTES:
        raise transfer.ImportRefused(
            _("The file is %(size)s bytes; the import limit is %(limit)s bytes (IMPORT_MAX_BYTES).")
            % {"size": f"{len(raw):,}", "limit": f"{settings.IMPORT_MAX_BYTES:,}"}
        )
    return transfer.import_file(user=user, raw=raw)


@router.post(
    "/import",
    response={201: schemas.Imported, schemas.REFUSALS: schemas.ErrorBody},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "A Chatweb export, or chatgpt-web's chat-store_<date>.json.",
        }
    },
    summary="Import conversations",
    description="Scope `conversations:write`. The body is checked whole first: a bad one is "
    "refused (`import_refused`) and nothing is written.",
)
async def import_conversations(request: HttpRequest) -> Any:
    caller = caller_of(request, "conversations:write")
    raw = request.read(settings.IMPORT_MAX_BYTES + 1)
    created = await database_sync_to_async(_import)(caller.user, raw)
    return Status(201, {"data": [conversation_out(c) for c in created]})


class SearchQuery(Schema):
    q: str
    project: int | None = Field(None, description="Only the conversations of this project.")


@router.get(
    "/search",
    response={200: schemas.SearchResults, schemas.REFUSALS: schemas.ErrorBody},
    summary="Search titles and messages",
    description="Scope `conversations:read`. Newest first, at most 30 hits; snippets are "
    "escaped HTML with `<mark>` around the hits.",
)
async def search_conversations(request: HttpRequest, query: Query[SearchQuery]) -> Any:
    caller = caller_of(request, "conversations:read")
    hits = await database_sync_to_async(_search)(caller.user, query.q, query.project)
    return {"data": [hit.as_json() for hit in hits]}


def _search(user: Any, q: str, project_id: int | None) -> list[search.Hit]:
    project = projects.project_for(user, project_id)
    return search.search(user=user, query=q, project_id=project.pk if project else None)
