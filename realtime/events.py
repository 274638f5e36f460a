"""Every frame and channel-layer event, declared once (docs/protocol.md).

Frames go to the browser; group events travel on the channel layer. A consumer turns a
group event into the frame of the same name, so the two stay in step by construction.
"""

from __future__ import annotations

import hashlib
from typing import Literal, NotRequired, TypedDict

from realtime import codes


def conversation_group(conversation_id: int) -> str:
    """The group every socket watching a conversation joins."""
    return f"conversation.{conversation_id}"


def control_group(conversation_id: int) -> str:
    """The group a running generation joins, to hear Stop and snapshot requests."""
    return f"conversation.{conversation_id}.control"


def user_group(user_id: int) -> str:
    """The group every socket of a user joins: deactivation closes them all, and a pin or
    an archive reaches every tab's sidebar."""
    return f"user.{user_id}"


def session_group(session_key: str) -> str:
    """The group every socket of one session joins, so signing out closes them.

    The session key is a credential: the group is named by its hash, never the key.
    """
    return f"session.{hashlib.sha256(session_key.encode()).hexdigest()[:40]}"


# --- Close codes (docs/protocol.md) ------------------------------------------------------
# A socket is accepted, then closed with one of these, so the browser sees the code
# (a refused handshake reaches it as 1006 only).
CLOSE_SIGNED_OUT = 4401  # not signed in, signed out, or the account was deactivated
CLOSE_NOT_FOUND = 4404  # no such conversation, or someone else's
CLOSE_SESSION_CHANGED = 4001  # the password changed: reconnect to learn if the session holds
CLOSE_SLOW_READER = 4008  # the client read too slowly: the outgoing buffer overflowed
CLOSE_TOO_MANY_FRAMES = 4429  # the client kept sending over the frame rate limit
CLOSE_TOO_MANY_SOCKETS = 4409  # the user already holds WS_MAX_SOCKETS_PER_USER sockets here


# --- The Message object inside frames (docs/protocol.md, "Message") ------------------


class UsageData(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    # Of completion_tokens, those spent reasoning (only when the server said).
    reasoning_tokens: NotRequired[int]


class AttachmentData(TypedDict):
    """A file on a message (#21): its bytes are served by /attachments/<id>/ to its owner."""

    id: int
    kind: str  # "image" or "document"
    name: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    pages: int | None
    text_tokens: int


class ContextCut(TypedDict):
    name: str
    percent: int


class MessageData(TypedDict):
    id: int
    parent_id: int | None
    role: str
    status: str
    content: str
    html: str
    # A reasoning model's thinking (plain text) and how long it took, apart from content.
    reasoning: str
    reasoning_seconds: float | None
    model: str
    finish_reason: str | None
    error_code: str
    error: str
    usage: UsageData | None
    retry_after: int | None
    context_from_id: int | None
    # The question's documents that did not fit the model's window whole (#21), and the
    # share of each that was sent: [{"name": "report.pdf", "percent": 42}].
    context_cut: list[ContextCut]
    # The owner's thumbs on an answer: "up", "down", or None (not rated).
    rating: str | None
    # A user message's files, in order (empty for most messages).
    attachments: list[AttachmentData]
    seq: int | None
    created_at: str


# --- Frames: server -> client ---------------------------------------------------------


class MessageFrame(TypedDict):
    type: Literal["message"]
    message: MessageData


class DeltaFrame(TypedDict):
    type: Literal["delta"]
    message_id: int
    seq: int
    text: str
    # Thinking that came in the same window; only present when there is some.
    reasoning: NotRequired[str]


class SnapshotFrame(TypedDict):
    type: Literal["snapshot"]
    message: MessageData | None


class DoneFrame(TypedDict):
    type: Literal["done"]
    message: MessageData
    # False while the database is away: the end is kept (in memory and on disk) and saved
    # when it returns, then a second `done` (saved) follows.
    saved: bool


class TitleFrame(TypedDict):
    type: Literal["title"]
    conversation_id: int
    title: str


class PathFrame(TypedDict):
    """The active path changed (edit, regenerate, switch, delete): show it again."""

    type: Literal["path"]
    conversation_id: int
    leaf_id: int | None


class OrganisedFrame(TypedDict):
    """A conversation was pinned, unpinned, archived or restored: every socket of its
    owner hears it (the user's group), so each tab's sidebar moves or drops the row.
    conversation_id None: all the user's conversations (archive all)."""

    type: Literal["organised"]
    conversation_id: int | None
    pinned: bool
    archived: bool


class ErrorFrame(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    request: str | None


ServerFrame = (
    MessageFrame
    | DeltaFrame
    | SnapshotFrame
    | DoneFrame
    | TitleFrame
    | PathFrame
    | OrganisedFrame
    | ErrorFrame
)

# --- Frames: client -> server ---------------------------------------------------------

CLIENT_FRAME_TYPES = ("send", "stop", "regenerate", "sync", "edit", "switch", "delete", "compare")


# --- Channel-layer events -------------------------------------------------------------
# To the conversation group, each carries the frame to forward under "frame".


class ForwardEvent(TypedDict):
    type: Literal["chat.frame"]
    frame: ServerFrame


# To a user's group, chat.frame events carry frames every tab of the user shows (an
# `organised` frame). To a user's or a session's group: every socket in it closes with `code`.


class CloseEvent(TypedDict):
    type: Literal["socket.close"]
    code: int


def close_event(code: int) -> CloseEvent:
    return {"type": "socket.close", "code": code}


# To the control group (only generations listen there). message_id None: any answer.


class StopEvent(TypedDict):
    type: Literal["generation.stop"]
    message_id: int | None


class SnapshotRequestEvent(TypedDict):
    type: Literal["generation.snapshot"]
    message_id: int
    reply_channel: str


# To a generation's own channel: its listener returns (never cancelled; see generation).
class ExitEvent(TypedDict):
    type: Literal["generation.exit"]


ControlEvent = StopEvent | SnapshotRequestEvent | ExitEvent


def stop_event(message_id: int | None) -> StopEvent:
    return {"type": "generation.stop", "message_id": message_id}


def snapshot_request(message_id: int, reply_channel: str) -> SnapshotRequestEvent:
    return {"type": "generation.snapshot", "message_id": message_id, "reply_channel": reply_channel}


def exit_event() -> ExitEvent:
    return {"type": "generation.exit"}


def forward(frame: ServerFrame) -> ForwardEvent:
    return {"type": "chat.frame", "frame": frame}


def message_frame(message: MessageData) -> MessageFrame:
    return {"type": "message", "message": message}


def delta_frame(message_id: int, seq: int, text: str, reasoning: str = "") -> DeltaFrame:
    frame: DeltaFrame = {"type": "delta", "message_id": message_id, "seq": seq, "text": text}
    if reasoning:
        frame["reasoning"] = reasoning
    return frame


def snapshot_frame(message: MessageData | None) -> SnapshotFrame:
    return {"type": "snapshot", "message": message}


def done_frame(message: MessageData, *, saved: bool = True) -> DoneFrame:
    return {"type": "done", "message": message, "saved": saved}


def title_frame(conversation_id: int, title: str) -> TitleFrame:
    return {"type": "title", "conversation_id": conversation_id, "title": title}


def path_frame(conversation_id: int, leaf_id: int | None) -> PathFrame:
    return {"type": "path", "conversation_id": conversation_id, "leaf_id": leaf_id}


def organised_frame(conversation_id: int | None, *, pinned: bool, archived: bool) -> OrganisedFrame:
    return {
        "type": "organised",
        "conversation_id": conversation_id,
        "pinned": pinned,
        "archived": archived,
    }


def error_frame(code: str, message: str, request: str | None = None) -> ErrorFrame:
    if code not in codes.CODES:
        raise ValueError(f"{code!r} is not declared in realtime/codes.py")
    return {"type": "error", "code": code, "message": message, "request": request}


ChannelEvent = ForwardEvent | CloseEvent | ControlEvent
