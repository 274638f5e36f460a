"""The shapes /api/v1 reads and writes (its OpenAPI schema comes from these)."""

from __future__ import annotations

from typing import Annotated, Literal

from ninja import Field, Schema
from ninja.params import functions as params

# The largest id a database row can have (a 64-bit signed integer); a larger one is refused
# (400) before any query could overflow.
MAX_ID = 2**63 - 1
Id = Annotated[int, params.Path(ge=1, le=MAX_ID)]

# --- Errors (api/errors.py) ------------------------------------------------------------------


class ErrorDetail(Schema):
    message: str
    type: str
    param: str | None
    code: str


class ErrorBody(Schema):
    error: ErrorDetail


# The statuses a refusal may have (realtime/codes.py), each documented with ErrorBody.
REFUSALS = frozenset({400, 401, 403, 404, 409, 413, 415, 422, 429})


# --- Messages (docs/protocol.md, "Message"; realtime.events.MessageData) ----------------------


class Usage(Schema):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reasoning_tokens: int | None = Field(
        None, description="Of completion_tokens, those spent thinking, when the model server said."
    )


class AttachmentOut(Schema):
    """A file on a message, or uploaded and waiting for one (docs/protocol.md, "Attachment").
    Its bytes: GET /api/v1/attachments/{id}/file (and /thumbnail, /text)."""

    id: int
    kind: Literal["image", "document"]
    name: str
    content_type: str = Field(description="What the file is served as (never HTML or SVG).")
    size: int = Field(description="Bytes stored (an image as re-encoded on the server).")
    width: int | None
    height: int | None
    pages: int | None = Field(description="A PDF's pages; null otherwise.")
    text_tokens: int = Field(description="A document's extracted text, in tokens; 0 for images.")


class Uploaded(Schema):
    """An uploaded file, the caller's until a post names it in `attachments`."""

    attachment: AttachmentOut
    file_url: str
    thumbnail_url: str | None = Field(description="An image's thumbnail; null for documents.")
    text_url: str | None = Field(description="A document's extracted text; null for images.")


class ContextCut(Schema):
    name: str
    percent: int = Field(description="The share of the document's text the model was sent.")


class MessageOut(Schema):
    id: int
    parent_id: int | None
    role: str
    status: str
    content: str
    html: str
    reasoning: str = Field(
        "", description="A reasoning model's thinking (plain text), kept apart from content."
    )
    reasoning_seconds: float | None = Field(None, description="How long the model thought.")
    model: str
    finish_reason: str | None
    error_code: str
    error: str
    usage: Usage | None
    retry_after: int | None
    context_from_id: int | None
    context_cut: list[ContextCut] = Field(
        default_factory=list,
        description="The question's documents that did not fit the model's window whole, "
        "and the share of each that was sent.",
    )
    rating: Literal["up", "down"] | None = Field(
        None, description="The owner's thumbs up or down on an answer; null when not rated."
    )
    seq: int | None
    created_at: str
    attachments: list[AttachmentOut] = Field(
        default_factory=list, description="A user message's files, in order."
    )


class RatingIn(Schema):
    rating: str | None = Field(description="`up`, `down`, or null (no rating).")


class MessagePage(Schema):
    data: list[MessageOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


# --- Conversations ----------------------------------------------------------------------------


class ConversationOut(Schema):
    id: int
    title: str
    model: str
    system_prompt: str
    context_enabled: bool
    pinned: bool
    archived: bool
    instructions_enabled: bool = Field(
        description="The owner's custom instructions are sent with each message."
    )
    current_leaf_id: int | None
    compare_with_id: int | None = Field(
        description="While a comparison is open: the answer shown beside the last one of the "
        "active path (a sibling by another model); null otherwise."
    )
    created_at: str
    updated_at: str
    temporary: bool = Field(description="A temporary chat: deleted at expires_at.")
    expires_at: str | None
    project: int | None = Field(description="The id of the project it is in, if any.")


class ConversationPage(Schema):
    data: list[ConversationOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class ConversationCreate(Schema):
    title: str | None = Field(None, max_length=10_000)
    model: str | None = Field(None, description="Default: the user's default model.")
    system_prompt: str | None = Field(None, description="Default: the user's default prompt.")
    instructions_enabled: bool = Field(
        True, description="Send the owner's custom instructions with each message."
    )
    temporary: bool = Field(
        False,
        description="A temporary chat: kept out of the list, search and the export of "
        "everything, never shared, pinned or archived, and deleted with its messages "
        "TEMPORARY_CHAT_HOURS after it starts (`expires_at`).",
    )


class ConversationPatch(Schema):
    title: str | None = Field(None, description="A new title; absent: unchanged.")
    pinned: bool | None = Field(
        None, description="Pin (true: first in the sidebar; restores an archived one) or unpin."
    )
    archived: bool | None = Field(
        None, description="Archive (true: out of the sidebar and the list; unpins) or restore."
    )


class ProjectOut(Schema):
    id: int
    name: str
    instructions: str = Field(description="Sent in every conversation of the project.")
    default_model: str = Field(description="New chats in it start with it; empty: none.")
    created_at: str


class ProjectList(Schema):
    data: list[ProjectOut]


class ProjectCreate(Schema):
    name: str
    instructions: str = ""
    default_model: str | None = None


class ProjectMove(Schema):
    project: int | None = Field(description="A project's id, or null for none.")


class SearchHit(Schema):
    conversation_id: int
    title: str
    message_id: int | None
    snippet_html: str
    url: str


class SearchResults(Schema):
    data: list[SearchHit]


class Imported(Schema):
    data: list[ConversationOut]


# --- Answers ----------------------------------------------------------------------------------


class PostMessage(Schema):
    text: str = Field(description="May be empty when `attachments` names files.")
    model: str | None = None
    attachments: list[int] = Field(
        default_factory=list,
        description="Ids of the caller's uploaded files (POST /attachments), in the order "
        "they go with the message; each is the message's once it is posted. At most "
        "ATTACHMENT_MAX_PER_MESSAGE.",
    )


class Regenerate(Schema):
    message_id: int | None = Field(
        ge=1,
        le=MAX_ID,
        default=None,
        description="The answer (or question) to answer again; default: the last one.",
    )
    model: str | None = None


class Compare(Schema):
    model: str = Field(
        description="The model that answers beside this answer (one the user may use)."
    )


class Edit(Schema):
    text: str
    model: str | None = None


class Switch(Schema):
    message_id: int = Field(ge=1, le=MAX_ID)


class Accepted(Schema):
    """An answer started: watch it at `events_url` (Server-Sent Events)."""

    conversation_id: int
    message_id: int = Field(description="The answer's id.")
    events_url: str
    message: MessageOut


class Stopped(Schema):
    message_id: int


class Switched(Schema):
    conversation_id: int
    current_leaf_id: int | None
    message: MessageOut


# --- The account ------------------------------------------------------------------------------


class UserOut(Schema):
    id: int
    username: str


class LimitsOut(Schema):
    requests_per_hour: int = Field(description="0: no limit.")
    tokens_per_day: int
    tokens_per_month: int
    concurrent_answers: int
    token_requests_per_hour: int | None = Field(
        description="The calling token's own limit (counted beside the user's), if any."
    )


class UsageNow(Schema):
    requests_this_hour: int
    tokens_today: int
    tokens_this_month: int
    answers_being_written: int


class TokenOut(Schema):
    id: str = Field(description="The token's public id (tok_…).")
    name: str
    prefix: str
    scopes: list[str]
    models_allowed: list[str]
    requests_per_hour: int | None
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None


class Me(Schema):
    user: UserOut
    limits: LimitsOut
    usage: UsageNow
    token: TokenOut | None = Field(description="The calling token; null for a session.")


class ModelUsage(Schema):
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class UsageOut(Schema):
    month_start: str
    by_model: list[ModelUsage]
    now: UsageNow
    limits: LimitsOut


class ModelOut(Schema):
    id: str
    label: str
    default: bool = Field(
        description="The model a conversation created without one starts with: the "
        "user's saved default while open to them, else the site's default."
    )


class ModelList(Schema):
    data: list[ModelOut]


class TokenCreate(Schema):
    name: str
    scopes: list[
        Literal["chat", "models:read", "conversations:read", "conversations:write", "usage:read"]
    ]
    days: int = Field(90, ge=1, description="At most API_TOKEN_MAX_DAYS (365 by default).")
    models_allowed: list[str] = []
    requests_per_hour: int | None = Field(None, ge=1, le=2_147_483_647)


class TokenCreated(Schema):
    token: TokenOut
    secret: str = Field(description="The token itself: shown this once, never again.")


class TokenList(Schema):
    data: list[TokenOut]
