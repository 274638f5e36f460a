"""Export conversations: one as JSON or Markdown, or all of a user's as JSON (the
"chatweb-export" format, version 1; conversations/import_plans.py reads it back).

A message's attachments (#21) go with it: their details and their stored bytes,
base64-encoded. The bytes are read only while the document is written out (json_chunks():
a FileBytes in the document becomes its base64 text then), one file at a time, so an
export holds at most one file in memory however many it carries.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.urls import reverse
from django.utils import timezone

from audit import record
from audit.models import Action
from conversations import attachments as attaching
from conversations.models import Attachment, Conversation, Message

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

FORMAT = "chatweb-export"
VERSION = 1


# --- Export -------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


class FileBytes:
    """An attachment's stored bytes in an export document, read when it is written out."""

    def __init__(self, attachment: Attachment) -> None:
        self.attachment = attachment

    def base64(self) -> str:
        return base64.b64encode(attaching.read(self.attachment)).decode("ascii")


def attachment_as_dict(attachment: Attachment) -> dict[str, Any]:
    return {
        "name": attachment.name,
        "kind": attachment.kind,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "width": attachment.width,
        "height": attachment.height,
        "pages": attachment.pages,
        "text": attachment.text,
        "data": FileBytes(attachment),
    }


class _Encoder(json.JSONEncoder):
    def default(self, o: object) -> Any:
        if isinstance(o, FileBytes):
            return o.base64()
        return super().default(o)


# What json_chunks() gathers before it yields: few large writes, not one per JSON token.
CHUNK_CHARS = 64 * 1024


def json_pieces(document: dict[str, Any]) -> Iterator[str]:
    """The document as JSON text, as the encoder makes it (small pieces)."""
    return _Encoder(ensure_ascii=False, indent=2).iterencode(document)


def json_chunks(document: dict[str, Any]) -> Iterator[str]:
    """The document as JSON text, in pieces of about CHUNK_CHARS (a streamed download):
    each attachment's bytes are read and encoded when their turn comes."""
    buffer: list[str] = []
    size = 0
    for piece in json_pieces(document):
        buffer.append(piece)
        size += len(piece)
        if size >= CHUNK_CHARS:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


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
                "attachments": [attachment_as_dict(a) for a in m.attachment_list()],
            }
            for m in messages
        ],
    }


def export_user(
    *, user: AbstractBaseUser, conversation: Conversation | None = None
) -> dict[str, Any]:
    """The export document: all the user's conversations (temporary chats left out), or
    just the one asked for, and the projects they are in. Two queries (three when a
    message has files: their details; their bytes are read by json_chunks()), and the
    audit entry's INSERT."""
    rows = Conversation.objects.for_user(user).select_related("project")
    rows = rows.filter(pk=conversation.pk) if conversation else rows.listed()
    conversations = list(rows.order_by("created_at", "id"))
    projects = {c.project.name: c.project for c in conversations if c.project}
    by_conversation: dict[int, list[Message]] = {c.pk: [] for c in conversations}
    for m in Message.objects.filter(conversation__in=conversations).order_by("created_at", "id"):
        by_conversation[m.conversation_id].append(m)
    attaching.load_for(m for messages in by_conversation.values() for m in messages)
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
    path = conversation.active_path()
    attaching.load_for(path)
    for m in path:
        if m.role == Message.Role.SYSTEM:
            continue
        who = (
            "You"
            if m.role == Message.Role.USER
            else f"Assistant{f' ({m.model})' if m.model else ''}"
        )
        files = m.attachment_list()
        lines += [f"## {who}", ""]
        if m.content.strip() or not files:
            lines += [m.content.rstrip() or "*(no text)*", ""]
        if files:
            lines += [*(_file_link(a) for a in files), ""]
        if m.status == Message.Status.ERROR:
            lines += [f"> **The answer failed.** {m.error}".rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def _file_link(attachment: Attachment) -> str:
    """A Markdown link to the file on this server (its owner's URL); an image is shown."""
    name = "".join(f"\\{c}" if c in "\\[]" else c for c in attachment.name)
    url = reverse("attachment", args=[attachment.pk])
    return f"![{name}]({url})" if attachment.is_image else f"- [{name}]({url})"


def _dates_line(conversation: Conversation) -> str:
    def shown(at: dt.datetime) -> str:
        return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")

    zone = timezone.get_current_timezone_name()
    return (
        f"*Started {shown(conversation.created_at)}, last updated "
        f"{shown(conversation.updated_at)} ({zone})*"
    )
