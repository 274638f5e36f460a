"""Import, first half: a file checked whole and turned into plans before anything is
written. The checks both formats share, and chatgpt-web's history file
(chat-store_<date>.json from its settings page: the localStorage wrapper
{"data": {"active", "usingContext", "history": [...], "chat": [...]}, "expire": null});
Chatweb's own export is planned by conversations/import_chatweb.py, on these checks.

A malformed, truncated, too large or too deeply nested file, or one of more messages or
characters than an import may write in a few seconds (IMPORT_MAX_MESSAGES,
IMPORT_MAX_CHARS), is refused with a clear message (ImportRefused) and nothing is written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from chatweb import visibility
from conversations import fields
from conversations.actions import ActionError
from conversations.models import TITLE_MAX, Message

MAX_DEPTH = 32
MAX_CONVERSATIONS = 5_000
MAX_TEXT_CHARS = 1_000_000


# --- Import: parsing ---------------------------------------------------------------------


class ImportRefused(ActionError):
    def __init__(self, message: str) -> None:
        super().__init__("import_refused", message)


@dataclass
class PlannedAttachment:
    """A file of a Chatweb export, still as the file has it (conversations/import_files.py
    checks and stores it)."""

    name: str
    data: str  # base64
    sha256: str


@dataclass
class PlannedMessage:
    key: object
    parent: object | None
    role: str
    content: str
    status: str
    created_at: dt.datetime
    model: str = ""
    finish_reason: str = ""
    error_code: str = ""
    error: str = ""
    usage: dict[str, int] | None = None
    finished_at: dt.datetime | None = None
    reasoning: str = ""
    reasoning_seconds: float | None = None
    rating: str = ""
    attachments: list[PlannedAttachment] = field(default_factory=list)


@dataclass
class PlannedConversation:
    title: str
    created_at: dt.datetime
    updated_at: dt.datetime
    messages: list[PlannedMessage] = field(default_factory=list)
    leaf: object | None = None
    model: str = ""
    system_prompt: str = ""
    context_enabled: bool = True
    pinned: bool = False
    archived: bool = False
    instructions_enabled: bool = True
    # The name of the project it was in ("" none), with that project's settings when the
    # file has them: the import puts it in the user's project of that name, made if missing.
    project: str = ""
    project_instructions: str = ""
    project_model: str = ""


def _depth_ok(document: object) -> bool:
    """True if no container nests deeper than MAX_DEPTH (checked without recursion)."""
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                return False
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def parse_document(raw: bytes) -> object:
    limit: int = settings.IMPORT_MAX_BYTES
    if len(raw) > limit:
        raise ImportRefused(
            _("The file is %(size)s bytes; the import limit is %(limit)s bytes (IMPORT_MAX_BYTES).")
            % {"size": f"{len(raw):,}", "limit": f"{limit:,}"}
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(_("The file is not UTF-8 text. Choose a JSON export file.")) from None
    try:
        document = json.loads(text)
    except RecursionError:
        raise ImportRefused(_("The file nests too deeply to be an export.")) from None
    except ValueError as exc:
        raise ImportRefused(
            _("The file is not valid JSON (it may be truncated): %(detail)s.")
            % {"detail": exc.args[0] if exc.args else exc}
        ) from None
    if not _depth_ok(document):
        raise ImportRefused(_("The file nests too deeply to be an export."))
    return document


def read_flag(value: object, what: str) -> bool:
    """An optional true/false (absent: false)."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ImportRefused(_("%(what)s is not true or false.") % {"what": what})
    return value


def read_text(value: object, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ImportRefused(_("%(what)s is not text.") % {"what": what})
    if len(value) > MAX_TEXT_CHARS:
        raise ImportRefused(
            _("%(what)s is longer than %(limit)s characters.")
            % {"what": what, "limit": f"{MAX_TEXT_CHARS:,}"}
        )
    return fields.clean_text(value)


def read_title(value: object, what: str) -> str:
    title = " ".join(read_text(value, what).split())[:TITLE_MAX]
    return _("Imported chat") if visibility.is_blank(title) else title


# What a refusal names, in the reader's language: an entry of the file, or one of its
# fields (the JSON key, which is the same in every language).
def name_chat_message(chat: int, message: int) -> str:
    return _("Message %(message)s of chat %(chat)s") % {"message": message, "chat": chat}


def name_conversation(conversation: int) -> str:
    return _("Conversation %(n)s") % {"n": conversation}


def name_conversation_message(conversation: int, message: int) -> str:
    return _("Message %(message)s of conversation %(conversation)s") % {
        "message": message,
        "conversation": conversation,
    }


def name_field(owner: str, key: str) -> str:
    return _("%(owner)s's %(field)s") % {"owner": owner, "field": key}


# The shapes of `new Date().toLocaleString()` in the locales people use most; the
# browser's zone is not in the file, so the server's TIME_ZONE is assumed.
LOCALE_FORMATS = [
    "%m/%d/%Y, %I:%M:%S %p",  # en-US: 11/21/2026, 2:44:34 PM
    "%m/%d/%Y %I:%M:%S %p",
    "%Y/%m/%d %H:%M:%S",  # zh-CN: 2026/11/21 14:44:34
    "%Y-%m-%d %H:%M:%S",  # sv-SE, ISO-like
    "%d/%m/%Y, %H:%M:%S",  # en-GB, fr-FR
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y, %H:%M:%S",  # de-DE
    "%d.%m.%Y %H:%M:%S",
    "%m/%d/%Y, %H:%M:%S",
    "%Y. %m. %d. %H:%M:%S",
]


def parse_locale_datetime(value: object, *, fallback: dt.datetime) -> dt.datetime:
    """A chatgpt-web dateTime (locale-formatted) or ISO string; the fallback if neither."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return fallback
    text = " ".join(value.replace("\u202f", " ").replace("\u200e", "").split())
    candidates: list[dt.datetime] = []
    with contextlib.suppress(ValueError):
        candidates.append(dt.datetime.fromisoformat(text))
    if "上午" in text or "下午" in text:  # zh-CN with a 12-hour clock: 2026/11/21 下午2:44:34
        pm = "下午" in text
        bare = text.replace("上午", " ").replace("下午", " ")
        try:
            parsed = dt.datetime.strptime(" ".join(bare.split()), "%Y/%m/%d %H:%M:%S")
            if pm and parsed.hour < 12:
                parsed += dt.timedelta(hours=12)
            candidates.append(parsed)
        except ValueError:
            pass
    for fmt in LOCALE_FORMATS:
        if candidates:
            break
        try:
            candidates.append(dt.datetime.strptime(text, fmt))
        except ValueError:
            continue
    if not candidates:
        return fallback
    parsed = candidates[0]
    if timezone.is_naive(parsed):
        try:
            parsed = timezone.make_aware(parsed)
        except (ValueError, OverflowError):
            return fallback
    if not dt.datetime(1990, 1, 1, tzinfo=dt.UTC) <= parsed <= fallback + dt.timedelta(days=1):
        return fallback
    return parsed


def check_count(count: int) -> None:
    """Refuse a file of too many messages before reading them one by one (planning alone
    costs a tenth of a millisecond a message)."""
    limit: int = settings.IMPORT_MAX_MESSAGES
    if count > limit:
        raise ImportRefused(
            _(
                "The file holds %(count)s messages; the import limit is %(limit)s messages "
                "(IMPORT_MAX_MESSAGES). Import it in parts, or ask the administrator."
            )
            % {"count": f"{count:,}", "limit": f"{limit:,}"}
        )


def check_size(plans: list[PlannedConversation]) -> list[PlannedConversation]:
    if not plans:
        raise ImportRefused(_("The file holds no conversation."))
    if len(plans) > MAX_CONVERSATIONS:
        raise ImportRefused(
            _("The file holds more than %(count)s conversations.")
            % {"count": f"{MAX_CONVERSATIONS:,}"}
        )
    check_count(sum(len(p.messages) for p in plans))
    chars = sum(
        len(p.system_prompt)
        + sum(len(m.content) + len(m.reasoning) + len(m.error) for m in p.messages)
        for p in plans
    )
    limit: int = settings.IMPORT_MAX_CHARS
    if chars > limit:
        raise ImportRefused(
            _(
                "The file holds %(count)s characters of text; the import limit is %(limit)s "
                "(IMPORT_MAX_CHARS). Import it in parts, or ask the administrator."
            )
            % {"count": f"{chars:,}", "limit": f"{limit:,}"}
        )
    return plans


def plan_chatgpt_web(document: dict[str, Any], *, now: dt.datetime) -> list[PlannedConversation]:
    state = document.get("data", document)
    if not isinstance(state, dict):
        raise ImportRefused(_('This is not a chatgpt-web history file: no "data" object.'))
    history, chats = state.get("history"), state.get("chat")
    if not isinstance(history, list) or not isinstance(chats, list):
        raise ImportRefused(
            _('This is not a chatgpt-web history file: "history" and "chat" must be lists.')
        )
    titles: dict[object, str] = {}
    for i, entry in enumerate(history):
        if not isinstance(entry, dict) or "uuid" not in entry:
            raise ImportRefused(_("History entry %(n)s has no uuid.") % {"n": i + 1})
        titles[entry["uuid"]] = read_title(
            entry.get("title"), _("The title of history entry %(n)s") % {"n": i + 1}
        )
    check_count(
        sum(
            len(c["data"]) for c in chats if isinstance(c, dict) and isinstance(c.get("data"), list)
        )
    )
    plans: list[PlannedConversation] = []
    for i, chat in enumerate(chats):
        if not isinstance(chat, dict) or not isinstance(chat.get("data"), list):
            raise ImportRefused(_('Chat %(n)s has no message list ("data").') % {"n": i + 1})
        plan = PlannedConversation(
            title=titles.get(chat.get("uuid")) or _("Imported chat"), created_at=now, updated_at=now
        )
        previous: PlannedMessage | None = None
        for j, item in enumerate(chat["data"]):
            where = name_chat_message(i + 1, j + 1)
            if not isinstance(item, dict):
                raise ImportRefused(_("%(what)s is not an object.") % {"what": where})
            text = read_text(
                item.get("text"),
                _("The text of message %(message)s of chat %(chat)s")
                % {"message": j + 1, "chat": i + 1},
            )
            at = parse_locale_datetime(item.get("dateTime"), fallback=now)
            if previous is not None and at < previous.created_at:
                at = previous.created_at  # Keep the order the file gives.
            user = item.get("inversion") is True
            message = PlannedMessage(
                key=j,
                parent=previous.key if previous else None,
                role=Message.Role.USER if user else Message.Role.ASSISTANT,
                content=text,
                status=Message.Status.DONE,
                created_at=at,
                finished_at=at,
            )
            if not user and item.get("error") is True:
                message.status = Message.Status.ERROR
                message.error_code = "imported_error"
                message.error, message.content = text, ""
            elif not user and item.get("loading") is True:
                message.status = Message.Status.INTERRUPTED
                message.error = "This answer was still being written when the file was saved."
            plan.messages.append(message)
            previous = message
        if not plan.messages:
            continue  # chatgpt-web keeps an empty "New chat"; nothing to bring over.
        plan.leaf = previous.key if previous else None
        plan.created_at = plan.messages[0].created_at
        plan.updated_at = plan.messages[-1].created_at
        plans.append(plan)
    return check_size(plans)
