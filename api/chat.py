"""Answers over /api/v1: post, regenerate, compare, edit, switch, stop, and the events stream.

Each goes through the answer engine (streaming.answers), so an answer started here is the
one the page shows, under the same quotas; posting also applies the token's model
allowlist and counts the token's own hourly limit (accounts.api_tokens.limits_of).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponseBase
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import Header, Status

from accounts import api_tokens
from api import events
from api.auth import Caller
from api.conversations import router as router
from api.schemas import (
    REFUSALS,
    Accepted,
    Compare,
    Edit,
    ErrorBody,
    Id,
    PostMessage,
    Regenerate,
    Stopped,
    Switch,
    Switched,
)
from api.v1 import caller_of
from catalog import config as catalog
from conversations.actions import ActionError
from conversations.models import Conversation, Message
from streaming import answers

# The conversations' router: a path's methods must be on one router (POST …/messages
# beside its GET), so the answers' operations join it under a tag of their own.
TAGS = ["answers"]

SSE_RESPONSE = {
    "responses": {
        200: {
            "description": "With `Accept: text/event-stream`: the answer's events at once "
            "(as GET /messages/{id}/events).",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
}
ACCEPTED: dict[Any, Any] = {202: Accepted, REFUSALS: ErrorBody}


def events_url(message_id: int) -> str:
    return f"/api/v1/messages/{message_id}/events"


def wants_stream(request: HttpRequest) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


@contextlib.contextmanager
def token_limits(caller: Caller) -> Iterator[None]:
    if caller.token is None:
        yield
    else:
        with api_tokens.limits_of(caller.token):
            yield


def _model_in_use(user: Any, conversation_id: int, model: str | None) -> str:
    """The model an answer in this conversation will use (the engine's own choice when
    none is given), so a token's allowlist is checked against it."""
    if model:
        return model
    row = Conversation.objects.for_user(user).filter(pk=conversation_id).only("model").first()
    if row is None:
        raise ActionError("not_found", _("This conversation was deleted."))
    return catalog.default_for(user, row.model)


async def _start(
    request: HttpRequest,
    conversation_id: int,
    model: str | None,
    start: Callable[[], Awaitable[Message]],
) -> Any:
    """Check the model against the token, start the answer under the token's own limit,
    then answer 202 (or stream it at once)."""
    caller = caller_of(request, "chat")
    if caller.token is not None and caller.token.models_allowed:
        name = await database_sync_to_async(_model_in_use)(caller.user, conversation_id, model)
        caller.check_model(name)
    with token_limits(caller):
        answer = await start()
    data = answer.as_event()
    if wants_stream(request):
        language = translation.get_language()
        first = events.encode(
            "message",
            events.localized(data, language),
            event_id=events.event_id(answer.pk, 0),
        )
        return events.response(
            events.answer_events(
                user=caller.user, message_id=answer.pk, language=language, prelude=[first]
            )
        )
    body = {
        "conversation_id": answer.conversation_id,
        "message_id": answer.pk,
        "events_url": events_url(answer.pk),
        "message": data,
    }
    return Status(202, body)


@router.post(
    "/conversations/{conversation_id}/messages",
    tags=TAGS,
    response=ACCEPTED,
    openapi_extra=SSE_RESPONSE,
    summary="Post a message; its answer starts",
    description="Scope `chat`. 202 with the answer's id and its events URL, or the answer "
    "streamed at once with `Accept: text/event-stream`. 409 `busy` while an answer streams. "
    "Files uploaded with POST /attachments go with it in `attachments` (404 "
    "`attachment_not_found` for an id that is not the caller's file waiting for a message).",
)
async def post_message(request: HttpRequest, conversation_id: Id, body: PostMessage) -> Any:
    caller = caller_of(request, "chat")
    return await _start(
        request,
        conversation_id,
        body.model,
        lambda: answers.post_message(
            user=caller.user,
            conversation_id=conversation_id,
            text=body.text,
            model=body.model,
            attachments=body.attachments,
        ),
    )


@router.post(
    "/conversations/{conversation_id}/regenerate",
    tags=TAGS,
    response=ACCEPTED,
    openapi_extra=SSE_RESPONSE,
    summary="Answer again (a new branch)",
    description="Scope `chat`. A new answer to the same question, as a sibling branch.",
)
async def regenerate(request: HttpRequest, conversation_id: Id, body: Regenerate) -> Any:
    caller = caller_of(request, "chat")
    return await _start(
        request,
        conversation_id,
        body.model,
        lambda: answers.regenerate(
            user=caller.user,
            conversation_id=conversation_id,
            message_id=body.message_id,
            model=body.model,
        ),
    )


@router.post(
    "/conversations/{conversation_id}/messages/{message_id}/compare",
    tags=TAGS,
    response=ACCEPTED,
    openapi_extra=SSE_RESPONSE,
    summary="Compare an answer with another model",
    description="Scope `chat`. The question this answer answers, answered again by `model` "
    "as a sibling branch shown beside it until one is chosen (`switch`). It may start while "
    "the compared answer is still being written: both then stream, and both count towards "
    "the concurrent-answers quota (429 `too_many_answers`). 400 `not_comparable` for a "
    "message that is not an answer.",
)
async def compare(request: HttpRequest, conversation_id: Id, message_id: Id, body: Compare) -> Any:
    caller = caller_of(request, "chat")
    return await _start(
        request,
        conversation_id,
        body.model,
        lambda: answers.compare(
            user=caller.user,
            conversation_id=conversation_id,
            message_id=message_id,
            model=body.model,
        ),
    )


@router.post(
    "/conversations/{conversation_id}/messages/{message_id}/edit",
    tags=TAGS,
    response=ACCEPTED,
    openapi_extra=SSE_RESPONSE,
    summary="Edit a question (a new branch), answered at once",
    description="Scope `chat`. The user's message resent with new text as a sibling branch.",
)
async def edit(request: HttpRequest, conversation_id: Id, message_id: Id, body: Edit) -> Any:
    caller = caller_of(request, "chat")
    return await _start(
        request,
        conversation_id,
        body.model,
        lambda: answers.edit(
            user=caller.user,
            conversation_id=conversation_id,
            message_id=message_id,
            text=body.text,
            model=body.model,
        ),
    )


@router.post(
    "/conversations/{conversation_id}/switch",
    tags=TAGS,
    response={200: Switched, REFUSALS: ErrorBody},
    summary="Show another branch",
    description="Scope `conversations:write`. The active path goes through `message_id` "
    "(to the newest message below it).",
)
async def switch(request: HttpRequest, conversation_id: Id, body: Switch) -> Any:
    caller = caller_of(request, "conversations:write")
    chosen = await answers.switch(
        user=caller.user, conversation_id=conversation_id, message_id=body.message_id
    )
    leaf = await database_sync_to_async(
        lambda: (
            Conversation.objects.filter(pk=conversation_id)
            .values_list("current_leaf_id", flat=True)
            .first()
        )
    )()
    return {
        "conversation_id": conversation_id,
        "current_leaf_id": leaf,
        # A question's files are read from the database: not on the event loop.
        "message": await database_sync_to_async(chosen.as_event)(),
    }


@router.post(
    "/conversations/{conversation_id}/stop",
    tags=TAGS,
    response={202: Stopped, REFUSALS: ErrorBody},
    summary="Stop the answer being written",
    description="Scope `chat`. Stops it (both answers of a comparison) on whichever instance "
    "runs it (the upstream request is closed). 409 `not_streaming` when nothing is being "
    "written.",
)
async def stop(request: HttpRequest, conversation_id: Id) -> Any:
    caller = caller_of(request, "chat")
    stopped = await answers.stop(user=caller.user, conversation_id=conversation_id)
    return Status(202, {"message_id": stopped})


def _conversation_of(user: Any, message_id: int) -> int:
    found = (
        Message.objects.filter(pk=message_id, conversation__user_id=user.pk)
        .values_list("conversation_id", "status")
        .first()
    )
    if found is None:
        raise ActionError(
            "message_not_found", _("That message is not in this conversation (any more).")
        )
    if found[1] not in Message.LIVE:
        raise ActionError("not_streaming", _("Nothing is being written right now."))
    return int(found[0])


@router.post(
    "/messages/{message_id}/stop",
    tags=TAGS,
    response={202: Stopped, REFUSALS: ErrorBody},
    summary="Stop this answer",
    description="Scope `chat`. As POST /conversations/{id}/stop, by the answer's id: only "
    "that answer (the other side of a comparison streams on).",
)
async def stop_message(request: HttpRequest, message_id: Id) -> Any:
    caller = caller_of(request, "chat")
    conversation_id = await database_sync_to_async(_conversation_of)(caller.user, message_id)
    stopped = await answers.stop(
        user=caller.user, conversation_id=conversation_id, message_id=message_id
    )
    return Status(202, {"message_id": stopped})


def _check_owned(user: Any, message_id: int) -> None:
    if not Message.objects.filter(pk=message_id, conversation__user_id=user.pk).exists():
        raise ActionError(
            "message_not_found", _("That message is not in this conversation (any more).")
        )


@router.get(
    "/messages/{message_id}/events",
    tags=TAGS,
    response={
        200: None,
        204: None,
        REFUSALS: ErrorBody,
    },
    openapi_extra={
        "responses": {
            200: {
                "description": "The answer's events (text/event-stream): snapshot, delta…, "
                "done; ping while quiet. Resume with Last-Event-ID.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            204: {"description": "Last-Event-ID says the client already saw the end."},
        }
    },
    summary="The answer's events (Server-Sent Events, resumable)",
    description="Scope `chat`. Every event has an id `<message id>.<seq>`; reconnect with "
    "`Last-Event-ID` for a snapshot and every later delta exactly once, on any instance. "
    "A disconnect never stops the answer.",
)
async def message_events(
    request: HttpRequest,
    message_id: Id,
    last_event_id: str | None = Header(None, alias="Last-Event-ID"),  # type: ignore[type-arg]
) -> HttpResponseBase:
    caller = caller_of(request, "chat")
    await database_sync_to_async(_check_owned)(caller.user, message_id)
    if events.saw_the_end(last_event_id, message_id):
        return events.no_more()
    return events.response(
        events.answer_events(
            user=caller.user, message_id=message_id, language=translation.get_language()
        )
    )


@router.get(
    "/conversations/{conversation_id}/events",
    tags=TAGS,
    response={200: None, REFUSALS: ErrorBody},
    openapi_extra={
        "responses": {
            200: {
                "description": "Every frame of the conversation (text/event-stream), as the "
                "page's WebSocket carries it: a snapshot first, then message, delta, done, "
                "title, path and error events; ping while quiet.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        }
    },
    summary="The conversation's events (Server-Sent Events)",
    description="Scope `chat`. The page's fallback when WebSockets cannot connect: the "
    "socket's frames (docs/protocol.md), each an event named by its type. Every connection "
    "starts with a snapshot of the last answer, so a reconnect resumes it.",
)
async def conversation_events(request: HttpRequest, conversation_id: Id) -> HttpResponseBase:
    caller = caller_of(request, "chat")
    # Refused (404) before the stream starts when the conversation is not the caller's.
    await database_sync_to_async(_check_conversation)(caller.user, conversation_id)
    return events.response(
        events.conversation_events(
            user=caller.user,
            conversation_id=conversation_id,
            language=translation.get_language(),
        )
    )


def _check_conversation(user: Any, conversation_id: int) -> None:
    if not Conversation.objects.for_user(user).filter(pk=conversation_id).exists():
        raise ActionError("not_found", _("This conversation was deleted."))


@router.delete(
    "/conversations/{conversation_id}/messages/{message_id}",
    tags=TAGS,
    response={204: None, REFUSALS: ErrorBody},
    summary="Delete a message and what follows it",
    description="Scope `conversations:write`. The message and everything after it on its "
    "branches. 409 `busy` while an answer streams.",
)
async def delete_message(request: HttpRequest, conversation_id: Id, message_id: Id) -> Any:
    caller = caller_of(request, "conversations:write")
    await answers.delete(user=caller.user, conversation_id=conversation_id, message_id=message_id)
    return Status(204, None)
