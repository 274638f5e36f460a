"""Export conversations: one as JSON or Markdown, or all of a user's as JSON (the
"chatweb-export" format, version 1; conversations/import_plans.py reads it back)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from audit import record
from audit.models import Action
from conversations.models import Conversation, Message

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

FORMAT = "chatweb-export"
VERSION = 1


# --- Export -------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def conversation_as_dict(conversation: Conversation, messages: list[Message]) -> dict[str, Any]:
    return {
        "title": conversation.title,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "context_enabled": conversation.context_enabled,
        "pinned": conversation.pinned,
        "archived": conversation.archived,
        "instructions_enabled": conversation.instructions_enabled,
        # The project it is in, by name (null: none); the document's "projects" has each
        # one's settings.
        "project": conversation.project.name if conversation.project else None,
        "created_at": _iso(conversation.created_at),
        "updated_at": _iso(conversation.updated_at),
        "current_leaf": conversation.current_leaf_id,
        "messages": [
            {
                "id": m.pk,
                "parent": m.parent_id,
                "role": m.role,
                "content": m.content,
                # A reasoning model's thinking (plain text), kept apart from the answer.
                "reasoning": m.reasoning,
                "reasoning_seconds": m.reasoning_seconds,
                "status": m.status,
                "model": m.model,
                "finish_reason": m.finish_reason,
                "error_code": m.error_code,
                "error": m.error,
                "usage": m.usage(),
                "created_at": _iso(m.created_at),
                "finished_at": _iso(m.finished_at),
                # The owner's thumbs on an answer: "up", "down", or null.
                "rating": m.rating or None,
            }
            for m in messages
        ],
    }


def export_user(
    *, user: AbstractBaseUser, conversation: Conversation | None = None
) -> dict[str, Any]:
    """The export document: all the user's conversations (temporary chats left out), or
    just the one asked for, and the projects they are in. Two queries, and the audit
    entry's INSERT."""
    rows = Conversation.objects.for_user(user).select_related("project")
    rows = rows.filter(pk=conversation.pk) if conversation else rows.listed()
    conversations = list(rows.order_by("created_at", "id"))
    projects = {c.project.name: c.project for c in conversations if c.project}
    by_conversation: dict[int, list[Message]] = {c.pk: [] for c in conversations}
    for m in Message.objects.filter(conversation__in=conversations).order_by("created_at", "id"):
        by_conversation[m.conversation_id].append(m)
    _record_export(user, conversation, "json", len(conversations))
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "projects": [
            {"name": p.name, "instructions": p.instructions, "default_model": p.default_model}
            for _, p in sorted(projects.items())
        ],
        "conversations": [conversation_as_dict(c, by_conversation[c.pk]) for c in conversations],
    }


def _record_export(
    user: AbstractBaseUser, conversation: Conversation | None, fmt: str, count: int
) -> None:
    record.record(
        Action.EXPORT,
        actor=user,
        target=conversation if conversation is not None else user,
        details={"format": fmt, "conversations": count},
    )


def export_markdown(*, conversation: Conversation) -> str:
    """The active branch as a readable Markdown document; its dates in the reader's zone
    (the active one: accounts.timezones)."""
    _record_export(conversation.user, conversation, "markdown", 1)
    lines = [f"# {conversation.title}", "", _dates_line(conversation), ""]
    for m in conversation.active_path():
        if m.role == Message.Role.SYSTEM:
            continue
        who = (
            "You"
            if m.role == Message.Role.USER
            else f"Assistant{f' ({m.model})' if m.model else ''}"
        )
        lines += [f"## {who}", "", m.content.rstrip() or "*(no text)*", ""]
        if m.status == Message.Status.ERROR:
            lines += [f"> **The answer failed.** {m.error}".rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def _dates_line(conversation: Conversation) -> str:
    def shown(at: dt.datetime) -> str:
        return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")

    zone = timezone.get_current_timezone_name()
    return (
        f"*Started {shown(conversation.created_at)}, last updated "
        f"{shown(conversation.updated_at)} ({zone})*"
    )
