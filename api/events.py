"""An answer as Server-Sent Events, resumable on any instance (docs/api.md, "Events").

Every event has a name and an id `<message id>.<seq>` (the seq the WebSocket's deltas
carry): `snapshot` first on every (re)connection (the answer as it stands), then each
later `delta` exactly once, then one `done` whose id is `<message id>.end`; a `ping`
every API_SSE_PING_SECONDS keeps proxies from closing a quiet stream. A client that
reconnects with `Last-Event-ID` gets a fresh snapshot and the rest; one that already
saw the end (`….end`) gets 204, which tells an EventSource to stop. Everything comes from
streaming.answers.watch(), so leaving never stops the answer: only stop() does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import translation
from django.utils.translation import gettext as _

from conversations import errors as message_errors
from conversations.models import Conversation, Message
from realtime import events
from realtime.codes import ProtocolError
from realtime.events import MessageData
from streaming import answers

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/event-stream; charset=utf-8"
END = "end"
_LAST_ID = re.compile(r"^\s*(\d+)\.(\d+|end)\s*$")


def encode(name: str, data: object, *, event_id: str | None = None) -> bytes:
    """One event. JSON has no raw newline, so `data` is always one line."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {name}\ndata: {body}\n\n".encode()


def event_id(message_id: int, seq: int | str) -> str:
    return f"{message_id}.{seq}"


def saw_the_end(last_event_id: str | None, message_id: int) -> bool:
    """The client's Last-Event-ID says it already has this answer's `done`."""
    found = _LAST_ID.match(last_event_id or "")
    return found is not None and int(found[1]) == message_id and found[2] == END


def localized(message: MessageData, language: str) -> dict[str, Any]:
    """The message with a failed answer's text in the reader's language."""
    with translation.override(language):
        return message_errors.localize_message(dict(message)) or dict(message)


def done_data(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": message["id"],
        "status": message["status"],
        "finish_reason": message["finish_reason"],
        "usage": message["usage"],
        "error_code": message["error_code"] or None,
        "error": message["error"] or None,
        "message": message,
    }


def response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    answer = StreamingHttpResponse(stream, content_type=CONTENT_TYPE)
    # Never held back: not by nginx (X-Accel-Buffering), not by any cache.
    answer["Cache-Control"] = "no-cache"
    answer["X-Accel-Buffering"] = "no"
    return answer


def no_more() -> HttpResponse:
    """204: the client saw the end; an EventSource stops reconnecting."""
    return HttpResponse(status=204)


async def answer_events(
    *, user: Any, message_id: int, language: str, prelude: Iterable[bytes] = ()
) -> AsyncIterator[bytes]:
    """The events of one answer, from its snapshot to its `done`."""
    for chunk in prelude:
        yield chunk
    snapshot_sent = False
    try:
        frames = _with_pings(answers.watch(user=user, message_id=message_id))
        async for frame in frames:
            if frame is None:
                if not await database_sync_to_async(_exists)(message_id):
                    # Deleted with its conversation: watch() would wait for an end that
                    # cannot come (one indexed query a ping, so it is found within one).
                    with translation.override(language):
                        text = _("This conversation was deleted.")
                    yield encode("error", {"code": "not_found", "message": text})
                    return
                yield encode("ping", {})
            elif frame["type"] == "snapshot" and frame["message"] is not None:
                message = frame["message"]
                snapshot_sent = True
                yield encode(
                    "snapshot",
                    localized(message, language),
                    event_id=event_id(message_id, message["seq"] or 0),
                )
            elif frame["type"] == "delta":
                delta: dict[str, Any] = {
                    "message_id": message_id, "seq": frame["seq"], "text": frame["text"]
                }  # fmt: skip
                if "reasoning" in frame:
                    delta["reasoning"] = frame["reasoning"]
                yield encode("delta", delta, event_id=event_id(message_id, frame["seq"]))
            elif frame["type"] == "done":
                ended = localized(frame["message"], language)
                if not snapshot_sent:  # an answer that had ended: its snapshot first
                    yield encode("snapshot", ended, event_id=event_id(message_id, 0))
                yield encode("done", done_data(ended), event_id=event_id(message_id, END))
                return
    except ProtocolError as exc:
        # The message went (its conversation deleted) while the stream was open.
        yield encode("error", {"code": exc.code, "message": exc.message})
    except Exception:
        log.exception("The events of answer %s failed", message_id)
        with translation.override(language):
            text = _("Something went wrong on the server while writing this answer.")
        yield encode("error", {"code": "internal", "message": text})


def _exists(message_id: int) -> bool:
    return Message.objects.filter(pk=message_id).exists()


async def conversation_events(
    *, user: Any, conversation_id: int, language: str
) -> AsyncIterator[bytes]:
    """Every frame of a conversation, as the page's WebSocket carries it (its fallback,
    static/js/sse.js): an event named by the frame's type whose data is the frame, a
    snapshot of its last answer first on every (re)connection, a `ping` while quiet. A
    delta's id is `<message id>.<seq>`; a reconnect always starts from a fresh snapshot."""
    try:
        frames = _with_pings(answers.watch_conversation(user=user, conversation_id=conversation_id))
        async for frame in frames:
            if frame is None:
                if not await database_sync_to_async(_conversation_exists)(conversation_id):
                    with translation.override(language):
                        text = _("This conversation was deleted.")
                    yield encode("error", events.error_frame("not_found", text))
                    return
                yield encode("ping", {})
                continue
            data: dict[str, Any] = dict(frame)
            if data.get("message") is not None:
                data["message"] = localized(data["message"], language)
            seq = data.get("seq") if frame["type"] == "delta" else None
            ident = event_id(data["message_id"], seq) if seq is not None else None
            yield encode(frame["type"], data, event_id=ident)
    except ProtocolError as exc:
        yield encode("error", events.error_frame(exc.code, exc.message))


def _conversation_exists(conversation_id: int) -> bool:
    return Conversation.objects.filter(pk=conversation_id).exists()


async def _with_pings(
    frames: AsyncGenerator[events.ServerFrame, None],
) -> AsyncIterator[events.ServerFrame | None]:
    """The frames, with None whenever API_SSE_PING_SECONDS pass without one."""
    every = settings.API_SSE_PING_SECONDS
    pending: asyncio.Future[events.ServerFrame] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(frames))
            done, _pending = await asyncio.wait({pending}, timeout=every)
            if not done:
                yield None
                continue
            finished, pending = pending, None
            try:
                frame = finished.result()
            except StopAsyncIteration:
                return
            yield frame
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await frames.aclose()
