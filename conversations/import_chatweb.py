"""Import, Chatweb's own export (conversations/exporting.py's format, version 1) checked
whole and turned into plans: a round trip gives the same conversations, every branch
included. Nothing is written here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from chatweb import visibility
from conversations.exporting import VERSION
from conversations.import_plans import (
    ImportRefused,
    PlannedAttachment,
    PlannedConversation,
    PlannedMessage,
    check_count,
    check_size,
    name_conversation,
    name_conversation_message,
    name_field,
    parse_locale_datetime,
    read_flag,
    read_text,
    read_title,
)
from conversations.models import Message
from conversations.project_models import PROJECT_INSTRUCTIONS_MAX, PROJECT_NAME_MAX

FINISHED = {s.value for s in Message.Status} - {s.value for s in Message.LIVE}
ROLES = {r.value for r in Message.Role}


def _when(value: object, what: str, *, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise ImportRefused(_("%(what)s is not a date.") % {"what": what})
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return parse_locale_datetime(value, fallback=now)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def _usage(value: object, what: str) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(value.get(k), int) and value[k] >= 0
        for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    ):
        raise ImportRefused(_("%(what)s: usage must hold three token counts.") % {"what": what})
    usage = {k: int(value[k]) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    reasoning = value.get("reasoning_tokens")
    if isinstance(reasoning, int) and not isinstance(reasoning, bool) and reasoning >= 0:
        usage["reasoning_tokens"] = reasoning
    return usage


def _seconds(value: object) -> float | None:
    """A duration in seconds, or None for anything that is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value < 1e9 else None


def _rating(value: object) -> str:
    """An answer's thumbs ("up" or "down"); anything else is no rating."""
    return value if isinstance(value, str) and value in Message.Rating.values else ""


def _attachments(value: object, what: str) -> list[PlannedAttachment]:
    """A message's files as the export has them (checked and stored later, each once)."""
    if value is None or value == []:
        return []
    if not isinstance(value, list):
        raise ImportRefused(_("%(what)s: attachments must be a list.") % {"what": what})
    limit = settings.ATTACHMENT_MAX_PER_MESSAGE
    if len(value) > limit:
        raise ImportRefused(
            _("%(what)s has more than %(limit)s files.") % {"what": what, "limit": limit}
        )
    found = []
    for item in value:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("data"), str)
            and isinstance(item.get("sha256"), str)
        ):
            raise ImportRefused(
                _("%(what)s: each attachment needs a name, its data and its sha256.")
                % {"what": what}
            )
        found.append(PlannedAttachment(item["name"], item["data"], item["sha256"].lower()))
    return found


def _project_name(value: object, what: str) -> str:
    """A project's name as the pages clean it ("" for none, or one that shows nothing)."""
    if value is None:
        return ""
    name = " ".join(read_text(value, what).split())[:PROJECT_NAME_MAX]
    return "" if visibility.is_blank(name) else name


def _projects(value: object) -> dict[str, tuple[str, str]]:
    """The document's projects' settings by name: (instructions, default model)."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise ImportRefused(_('The export\'s "projects" is not a list.'))
    found: dict[str, tuple[str, str]] = {}
    for n, item in enumerate(value):
        what = _("Project %(n)s") % {"n": n + 1}
        if not isinstance(item, dict):
            raise ImportRefused(_("%(what)s is not an object.") % {"what": what})
        name = _project_name(item.get("name"), name_field(what, "name"))
        instructions = read_text(item.get("instructions"), name_field(what, "instructions"))
        model = read_text(item.get("default_model"), name_field(what, "default_model"))
        found[name] = (instructions[:PROJECT_INSTRUCTIONS_MAX], model[:200])
    return found


def plan_chatweb(document: dict[str, Any], *, now: dt.datetime) -> list[PlannedConversation]:
    if document.get("version") != VERSION:
        raise ImportRefused(
            _("This export is version %(version)s; this server reads version %(supported)s.")
            % {"version": repr(document.get("version")), "supported": VERSION}
        )
    items = document.get("conversations")
    if not isinstance(items, list):
        raise ImportRefused(_('The export has no "conversations" list.'))
    check_count(
        sum(
            len(c["messages"])
            for c in items
            if isinstance(c, dict) and isinstance(c.get("messages"), list)
        )
    )
    projects = _projects(document.get("projects"))
    plans: list[PlannedConversation] = []
    for i, item in enumerate(items):
        where = name_conversation(i + 1)
        if not isinstance(item, dict) or not isinstance(item.get("messages"), list):
            raise ImportRefused(_('%(what)s has no "messages" list.') % {"what": where})
        plan = PlannedConversation(
            title=read_title(
                item.get("title"), _("The title of conversation %(n)s") % {"n": i + 1}
            ),
            created_at=_when(item.get("created_at"), name_field(where, "created_at"), now=now),
            updated_at=_when(item.get("updated_at"), name_field(where, "updated_at"), now=now),
            model=read_text(item.get("model"), name_field(where, "model"))[:200],
            system_prompt=read_text(item.get("system_prompt"), name_field(where, "system_prompt")),
            context_enabled=item.get("context_enabled") is not False,
            pinned=read_flag(item.get("pinned"), name_field(where, "pinned")),
            archived=read_flag(item.get("archived"), name_field(where, "archived")),
            # Missing (an older export, chatgpt-web's file): on, as for a new chat.
            instructions_enabled=item.get("instructions_enabled") is None
            or read_flag(
                item.get("instructions_enabled"), name_field(where, "instructions_enabled")
            ),
            leaf=item.get("current_leaf"),
            project=_project_name(item.get("project"), name_field(where, "project")),
        )
        plan.project_instructions, plan.project_model = projects.get(plan.project, ("", ""))
        keys: set[object] = set()
        for j, raw in enumerate(item["messages"]):
            what = name_conversation_message(i + 1, j + 1)
            if not isinstance(raw, dict):
                raise ImportRefused(_("%(what)s is not an object.") % {"what": what})
            key, parent = raw.get("id"), raw.get("parent")
            if not isinstance(key, int) or isinstance(key, bool) or key in keys:
                raise ImportRefused(_("%(what)s has a missing or repeated id.") % {"what": what})
            if parent is not None and parent not in keys:
                raise ImportRefused(
                    _("%(what)s answers a message that does not come before it.") % {"what": what}
                )
            role, status = raw.get("role"), raw.get("status", Message.Status.DONE)
            if role not in ROLES:
                raise ImportRefused(
                    _("%(what)s has an unknown role %(role)s.") % {"what": what, "role": repr(role)}
                )
            if status in Message.LIVE:
                status = Message.Status.INTERRUPTED
            if status not in FINISHED:
                raise ImportRefused(
                    _("%(what)s has an unknown status %(status)s.")
                    % {"what": what, "status": repr(status)}
                )
            created = _when(raw.get("created_at"), name_field(what, "created_at"), now=now)
            content_of = _("The text of message %(message)s of conversation %(conversation)s")
            plan.messages.append(
                PlannedMessage(
                    key=key,
                    parent=parent,
                    role=role,
                    content=read_text(
                        raw.get("content"), content_of % {"message": j + 1, "conversation": i + 1}
                    ),
                    status=status,
                    created_at=created,
                    model=read_text(raw.get("model"), name_field(what, "model"))[:200],
                    finish_reason=read_text(
                        raw.get("finish_reason"), name_field(what, "finish_reason")
                    )[:32],
                    error_code=read_text(raw.get("error_code"), name_field(what, "error_code"))[
                        :40
                    ],
                    error=read_text(raw.get("error"), name_field(what, "error")),
                    usage=_usage(raw.get("usage"), what),
                    reasoning=read_text(raw.get("reasoning"), name_field(what, "reasoning")),
                    reasoning_seconds=_seconds(raw.get("reasoning_seconds")),
                    rating=_rating(raw.get("rating")),
                    attachments=_attachments(raw.get("attachments"), what),
                    finished_at=_when(
                        raw.get("finished_at"), name_field(what, "finished_at"), now=now
                    )
                    if raw.get("finished_at")
                    else None,
                )
            )
            keys.add(key)
        if plan.leaf is not None and plan.leaf not in keys:
            raise ImportRefused(
                _("%(what)s's current_leaf is not one of its messages.") % {"what": where}
            )
        plans.append(plan)
    return check_size(plans)
