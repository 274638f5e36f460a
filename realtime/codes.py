"""Every error code Chatweb sends or stores, declared once, with the HTTP status an API
answers it with (docs/protocol.md's code tables are generated from this list).

Four places a code travels:
- "frame": an `error` frame on the socket (and the same refusal as an HTTP error);
- "page": a page's JSON refusal (`{"ok": false, "code", "error"}`), never on the socket;
- "answer": a failed or interrupted answer's stored `error_code`;
- "api": a refusal only the API gives (tokens, scopes; docs/api.md).

    python -m realtime.codes          # rewrite the tables in docs/protocol.md and docs/api.md
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Where = Literal["frame", "page", "answer", "api"]


@dataclass(frozen=True)
class Code:
    name: str
    status: int  # the HTTP status of this refusal or failure
    where: Where
    meaning: str  # for the protocol page (developers read it; users read `message`)


CODES: dict[str, Code] = {}


def declare(name: str, status: int, where: Where, meaning: str) -> str:
    assert name not in CODES, f"{name} is declared twice"
    CODES[name] = Code(name, status, where, meaning)
    return name


class ProtocolError(Exception):
    """A request refused with a declared code, readable text (in the reader's language)
    and the code's HTTP status. Nothing was written."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"{code!r} is not declared in realtime/codes.py")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = CODES[code].status


# --- Socket frames (and their HTTP equivalents) -------------------------------------------
declare(
    "bad_frame",
    400,
    "frame",
    "Not a JSON object (including JSON nested too deep to decode), or no/unknown `type`.",
)
declare(
    "empty_text",
    400,
    "frame",
    "`send` or `edit` with no text (or only whitespace and NUL characters).",
)
declare(
    "too_long",
    413,
    "frame",
    "`send` or `edit` text over `MAX_MESSAGE_CHARS` (or a system prompt over it).",
)
declare(
    "unknown_model",
    400,
    "frame",
    "`model` is not a model this user may use (catalog.config decides: admin models granted to the user or their groups or to everyone, and the environment's). The message lists the allowed ones.",
)
declare("no_model", 403, "frame", "No model is available to this user at all.")
declare(
    "busy",
    409,
    "frame",
    "An answer is already streaming in this conversation (`send`, `edit`, `regenerate`, `switch` and `delete` wait for it to end; `compare` waits for any other than the answer it compares).",
)
declare("not_streaming", 409, "frame", "`stop` with nothing streaming.")
declare(
    "nothing_to_regenerate",
    400,
    "frame",
    "`regenerate` in a conversation with no user message, or of a message that answers nothing.",
)
declare(
    "not_comparable",
    400,
    "frame",
    "`compare` of a message that is not an answer to a question: only answers are compared.",
)
declare(
    "bad_message",
    400,
    "frame",
    "`edit`, `switch`, `delete`, `regenerate` or `compare` whose `message_id` is not an integer.",
)
declare(
    "message_not_found",
    404,
    "frame",
    "`message_id` is not a message of this conversation (perhaps deleted from another tab).",
)
declare(
    "not_editable",
    400,
    "frame",
    "`edit` of an answer: only the user's messages can be edited (answers are regenerated).",
)
declare(
    "rate_limited",
    429,
    "frame",
    "The user's requests-per-hour quota is used up (`MAX_REQUEST_PER_HOUR` is its site default). The message says when it resets.",
)
declare(
    "quota_tokens_day",
    429,
    "frame",
    "The user's tokens-per-day quota is used up; resets at the server's midnight (`TIME_ZONE`), said in the message in the user's own time zone.",
)
declare(
    "quota_tokens_month",
    429,
    "frame",
    "The user's tokens-per-month quota is used up; resets on the 1st, said in the message.",
)
declare(
    "budget_user",
    429,
    "frame",
    "The user's own monthly money budget (their quota row) is spent; resets on the 1st in `TIME_ZONE`, said in the message.",
)
declare(
    "budget_group",
    429,
    "frame",
    "The monthly money budget for each person set on the user's group (the most generous of their groups) is spent; resets on the 1st, said in the message.",
)
declare(
    "budget_site",
    429,
    "frame",
    "The site's default monthly money budget for each person is spent; resets on the 1st, said in the message.",
)
declare(
    "too_many_answers",
    429,
    "frame",
    "The user already has as many answers streaming (in any conversation) as their concurrent-answers quota allows (`MAX_CONCURRENT_ANSWERS` is its site default; a quota set in the admin overrides it).",
)
declare(
    "not_found",
    404,
    "frame",
    "The conversation was deleted (from another tab) since the socket connected, or is not the user's.",
)
declare(
    "too_many_frames",
    429,
    "frame",
    "Over `WS_MAX_FRAMES_PER_SECOND` frames a second (bursts of twice that): the frame was ignored. Sent once per run of ignored frames; a second's worth more closes the socket with `4429`.",
)
declare(
    "account_inactive",
    403,
    "frame",
    "The account was deactivated while this socket was open (even without the signal that closes its sockets): nothing is started.",
)

# --- Pages (HTTP JSON) --------------------------------------------------------------------
declare("not_signed_in", 401, "page", "Starting a conversation without being signed in.")
declare(
    "empty_title",
    400,
    "page",
    "A conversation renamed to nothing (or to invisible characters only).",
)
declare(
    "nothing_to_share",
    400,
    "page",
    '`POST /c/<id>/share/` on a conversation with no finished message. Success: `{"ok": true, "url", "token"}`.',
)
declare(
    "temporary_not_shared",
    400,
    "page",
    "`POST /c/<id>/share/` on a temporary chat: it is never shared (it is deleted when its time is up).",
)
declare(
    "import_refused",
    400,
    "page",
    "`/import/` or `/prompts/import/`: the file is too large, not UTF-8 JSON, truncated, too deeply nested or not a known shape; nothing was written.",
)
declare(
    "bad_rating",
    400,
    "page",
    '`POST /c/<id>/messages/<id>/rating/` (or the API\'s `PUT …/rating`) with a `rating` other than `up`, `down` or empty (no rating). Success: `{"ok": true, "rating"}`.',
)
declare(
    "not_ratable",
    409,
    "page",
    "A rating of a question, or of an answer still being written: only finished answers are rated.",
)
declare("prompt_title", 400, "page", "A prompt with no title, or a title over 100 characters.")
declare("prompt_text", 400, "page", "A prompt with no text, or text over 20,000 characters.")
declare("prompt_exists", 409, "page", "The user already has a prompt with that title.")
declare(
    "bad_flag",
    400,
    "page",
    "`POST /c/<id>/pin/` or `/c/<id>/archive/` with a `pinned` or `archived` other than `true` or `false` (or the API's `PATCH` asking for both at once).",
)
declare(
    "temporary_not_organised",
    409,
    "page",
    "Pinning or archiving a temporary chat: it is kept out of the sidebar and the archive, and deleted when its time is up.",
)
declare(
    "project_name",
    400,
    "page",
    "A project with no name (or invisible characters only), or a name over 80 characters.",
)
declare("project_exists", 409, "page", "The user already has a project with that name.")
declare(
    "project_instructions",
    400,
    "page",
    "A project's instructions over 8,000 characters.",
)
declare(
    "project_not_found",
    404,
    "page",
    "`POST /c/<id>/project/` (or the API's `project`) naming a project that is not the user's (perhaps deleted from another tab).",
)
declare(
    "temporary_not_in_project",
    400,
    "page",
    "A temporary chat moved into a project, or started in one: temporary chats stay out of projects.",
)

# --- A failed or interrupted answer's error_code -------------------------------------------
declare("not_configured", 503, "answer", "No model server is configured (no key, no provider).")
declare("upstream_error", 502, "answer", "The request to the model server failed.")
declare("upstream_http_error", 502, "answer", "The model server answered with an HTTP error.")
declare(
    "upstream_rate_limited",
    429,
    "answer",
    "The model server answered HTTP 429; `retry_after` holds its `Retry-After`.",
)
declare(
    "upstream_timeout", 504, "answer", "The model server was silent for longer than `TIMEOUT_MS`."
)
declare(
    "upstream_disconnected",
    502,
    "answer",
    "The connection to the model server broke mid-reply; the text so far is kept.",
)
declare(
    "upstream_stream_error", 502, "answer", "The model server sent a reply that could not be read."
)
declare("upstream_unreachable", 502, "answer", "The model server could not be reached.")
declare(
    "upstream_proxy",
    502,
    "answer",
    "The outbound proxy in front of the model server failed: it could not be reached, refused the tunnel (HTTP CONNECT answered non-2xx, a SOCKS5 failure reply) or refused the credentials. The detail names the proxy without its credentials.",
)
declare(
    "database_unavailable",
    503,
    "answer",
    "No longer produced (an outage now keeps the answer going: its text is saved when the database returns); answers stored with it before keep it.",
)
declare(
    "interrupted",
    503,
    "answer",
    "The server went away while the answer was written (shut down, killed, or its process stopped checkpointing); the text so far is kept.",
)
declare("internal", 500, "answer", "Something went wrong on the server.")
declare(
    "model_unavailable",
    409,
    "answer",
    "The conversation's model was disabled or removed since it was chosen.",
)
declare(
    "provider_key_unreadable",
    500,
    "answer",
    "The provider's stored key cannot be decrypted (`SECRET_KEY` or `PROVIDER_KEY_SECRET` changed).",
)
declare(
    "imported_error",
    200,
    "answer",
    "An answer that had failed in the conversation it was imported from (its text as it was).",
)


# --- Attachments (#21): an upload's refusal (a page's JSON, or a post's frame) ------------
declare("attachment_empty", 400, "frame", "An uploaded file with no bytes.")
declare("attachment_too_large", 413, "frame", "A file over `ATTACHMENT_MAX_BYTES`.")
declare(
    "attachment_unsupported",
    415,
    "frame",
    "Not an image, PDF, DOCX or UTF-8 text file (an SVG, an archive, a binary).",
)
declare(
    "attachment_unreadable",
    422,
    "frame",
    "A file that is damaged or not what it starts as (a bad image, PDF or DOCX; a zip bomb).",
)
declare(
    "attachment_image_too_big",
    422,
    "frame",
    "An image with more pixels than `ATTACHMENT_MAX_PIXELS` (refused before decoding).",
)
declare(
    "attachment_too_many_pages",
    422,
    "frame",
    "A PDF with more pages than `ATTACHMENT_PDF_MAX_PAGES`.",
)
declare(
    "attachment_busy",
    429,
    "frame",
    "Every image decode slot (`IMAGE_DECODES_AT_ONCE`) stayed taken for 10 s; attach it again.",
)
declare(
    "attachment_storage_failed",
    503,
    "frame",
    "The attachments storage (the disk, or the S3 store) failed to take the file; nothing kept.",
)
declare("attachment_encrypted", 422, "frame", "A password-protected PDF.")
declare("attachment_no_text", 422, "frame", "A document with no text to read (a scanned PDF).")
declare(
    "attachment_quota",
    413,
    "frame",
    "The user's stored files would pass their storage quota (bytes, set in the admin).",
)
declare(
    "too_many_attachments",
    400,
    "frame",
    "More files on one message than `ATTACHMENT_MAX_PER_MESSAGE`.",
)
declare(
    "attachment_not_found",
    404,
    "frame",
    "An attachment id that is not one of the user's uploads waiting for a message (on "
    "`/api/v1/attachments/{id}`: not a file of the caller's).",
)
declare(
    "model_text_only",
    400,
    "frame",
    "Images sent to a model the catalog does not mark as accepting images.",
)


# --- The API (tokens and what they allow) -----------------------------------------------------
declare(
    "invalid_api_key",
    401,
    "api",
    "No token, a malformed one (refused before any database query: wrong prefix, length or checksum), or one that does not exist.",
)
declare("token_expired", 401, "api", "The token is past its expiry; make a new one.")
declare("token_revoked", 401, "api", "The token was revoked (by its owner or an admin).")
declare(
    "insufficient_scope",
    403,
    "api",
    "The token lacks the scope this call needs (the message names it), or a token called an endpoint only a signed-in session may (tokens cannot make tokens).",
)
declare(
    "model_not_allowed",
    403,
    "api",
    "The model is one the owner may use, but not in the token's model allowlist.",
)
declare("model_not_found", 404, "api", "No model of that name is open to the token's owner.")
declare(
    "invalid_token_settings",
    400,
    "api",
    "A token asked for with no name, no or unknown scopes, an expiry outside 1 to `API_TOKEN_MAX_DAYS` days, a requests-per-hour below 1, or a model the owner may not use; nothing was made.",
)

declare(
    "invalid_request",
    400,
    "api",
    "A parameter or body field of the wrong type, missing or out of range (`param` names it), a body that is not JSON (on `/v1`: not a JSON object), or a paging cursor this API did not give.",
)
declare(
    "csrf_failed",
    403,
    "api",
    "A signed-in session's POST, PATCH or DELETE without the page's CSRF token (`X-CSRFToken`); tokens need none.",
)
declare("token_not_found", 404, "api", "No API token of the user's has this id.")
declare("no_such_endpoint", 404, "api", "A path under `/api/v1/` that names no endpoint.")
# --- The OpenAI-compatible /v1 ----------------------------------------------------------------
declare(
    "unsupported_parameter",
    400,
    "api",
    "`/v1`: a parameter Chatweb cannot honour (tools, functions, `n` > 1, logprobs, …); `param` names it.",
)
declare("method_not_allowed", 405, "api", "`/v1`: an HTTP method the endpoint does not take.")


# --- The protocol page ---------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs"
PROTOCOL = DOCS / "protocol.md"
API = DOCS / "api.md"


def table(where: Where) -> str:
    rows = [
        f"| `{c.name}` | {c.status} | {c.meaning} |" for c in CODES.values() if c.where == where
    ]
    return "\n".join(["| code | HTTP | meaning |", "| --- | --- | --- |", *rows])


def with_tables(text: str) -> str:
    """docs/protocol.md (or api.md) with each `<!-- codes:WHERE -->` … `<!-- /codes -->` block regenerated."""

    def block(match: re.Match[str]) -> str:
        where: Where = match[1]  # type: ignore[assignment]
        return f"<!-- codes:{where} -->\n{table(where)}\n<!-- /codes -->"

    return re.sub(r"<!-- codes:(\w+) -->\n.*?<!-- /codes -->", block, text, flags=re.DOTALL)


if __name__ == "__main__":  # pragma: no cover - a developer's command
    for page in (PROTOCOL, API):
        if page.exists():
            page.write_text(with_tables(page.read_text()))
            sys.stdout.write(f"{page} rewritten\n")
