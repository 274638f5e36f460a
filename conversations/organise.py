"""Organising conversations: rename, settings, pin, archive, delete, and temporary chats' end.

Workflows like conversations.actions' (keyword-only, one transaction, publish after
commit), for what a user does to whole conversations rather than to their messages.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils.translation import gettext as _

from audit import record
from audit.models import Action
from catalog import clock
from chatweb import visibility
from conversations.actions import MAX_MESSAGE_CHARS, ActionError, clean_model, title_from_text
from conversations.fields import clean_text
from conversations.models import Conversation
from realtime import events
from realtime.publish import publish, publish_to_user, stop_answers

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def rename(*, conversation: Conversation, title: object) -> None:
    # A title of characters that show nothing (by Unicode property) is empty.
    if not isinstance(title, str) or visibility.is_blank(clean_text(title)):
        raise ActionError("empty_title", _("A title cannot be empty."))
    conversation.title = title_from_text(title)
    conversation.save(update_fields=["title"])
    publish(conversation.pk, events.title_frame(conversation.pk, conversation.title))


def _flag(value: object, name: str) -> bool:
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise ActionError("bad_flag", _("%(name)s must be true or false.") % {"name": name})


def _not_temporary(conversation: Conversation) -> None:
    if conversation.is_temporary:
        raise ActionError(
            "temporary_not_organised", _("A temporary chat cannot be pinned or archived.")
        )


def _organised(conversation: Conversation) -> None:
    """Save both flags and tell every tab of the owner (their sidebars), after commit."""
    conversation.save(update_fields=["pinned", "archived"])
    publish_to_user(
        conversation.user_id,
        events.organised_frame(
            conversation.pk, pinned=conversation.pinned, archived=conversation.archived
        ),
    )


def set_pinned(*, conversation: Conversation, pinned: object) -> None:
    """Pin it to the top of the sidebar, or unpin it; an archived one is restored too."""
    value = _flag(pinned, "pinned")
    _not_temporary(conversation)
    conversation.pinned = value
    if conversation.pinned:
        conversation.archived = False
    _organised(conversation)


def set_archived(*, conversation: Conversation, archived: object) -> None:
    """Archive it (out of the sidebar, still searchable; unpinned) or restore it."""
    value = _flag(archived, "archived")
    _not_temporary(conversation)
    conversation.archived = value
    if conversation.archived:
        conversation.pinned = False
    _organised(conversation)


def update(
    *,
    conversation: Conversation,
    title: object = None,
    pinned: object = None,
    archived: object = None,
) -> None:
    """The API's PATCH: any of a new title, pinned, archived (None: unchanged), all checked
    before anything is written, in one transaction. Pinned and archived both true is
    refused (archiving unpins, pinning restores)."""
    pin = None if pinned is None else _flag(pinned, "pinned")
    archive = None if archived is None else _flag(archived, "archived")
    if pin and archive:
        raise ActionError("bad_flag", _("A conversation cannot be pinned and archived at once."))
    if pin is not None or archive is not None:
        _not_temporary(conversation)
    with transaction.atomic():
        if title is not None:
            rename(conversation=conversation, title=title)
        if archive is not None:
            set_archived(conversation=conversation, archived=archive)
        if pin is not None:
            set_pinned(conversation=conversation, pinned=pin)


def archive_all_conversations(*, user: AbstractBaseUser | AnonymousUser) -> int:
    """Archive every conversation of the user still in the sidebar. Returns how many."""
    with transaction.atomic():
        count = (
            Conversation.objects.for_user(user)
            .listed()
            .filter(archived=False)
            .update(archived=True, pinned=False)
        )
        if count and user.pk is not None:
            publish_to_user(user.pk, events.organised_frame(None, pinned=False, archived=True))
        record.record(Action.ARCHIVE_ALL, actor=user, target=user, details={"conversations": count})
    return count


def delete_conversation(*, conversation: Conversation) -> None:
    """Delete it with its messages; a running answer is stopped (no more tokens paid for)."""
    conversation_id = conversation.pk
    with transaction.atomic():
        conversation.delete()

        stop_answers([conversation_id])


def purge_temporary(*, now: dt.datetime | None = None) -> int:
    """Delete the temporary chats whose time is up, with their messages; how many.

    Running answers in them are stopped. The usage ledger (catalog.models.UsageRecord)
    has no foreign key to conversations, so what their answers cost stays counted.
    Run by every server process's heartbeat (streaming.heartbeat) and `manage.py
    purge_temporary`.
    """
    with transaction.atomic():
        ids = list(Conversation.objects.expired(now or clock.now()).values_list("pk", flat=True))
        if ids:
            Conversation.objects.filter(pk__in=ids).delete()
            stop_answers(ids)
    return len(ids)


def delete_all_conversations(*, user: AbstractBaseUser | AnonymousUser) -> int:
    """Delete every conversation of the user; running answers are stopped. Returns how many."""
    with transaction.atomic():
        ids = list(Conversation.objects.for_user(user).values_list("pk", flat=True))
        Conversation.objects.filter(pk__in=ids).delete()
        record.record(
            Action.DELETE_ALL, actor=user, target=user, details={"conversations": len(ids)}
        )

        stop_answers(ids)
    return len(ids)


def update_settings(
    *,
    conversation: Conversation,
    model: object,
    context_enabled: bool,
    system_prompt: object,
    instructions_enabled: bool,
) -> None:
    if not isinstance(system_prompt, str):
        system_prompt = ""
    if len(system_prompt) > MAX_MESSAGE_CHARS:
        raise ActionError("too_long", _("The system prompt is too long."))
    conversation.model = clean_model(conversation.user, model, conversation.model)
    conversation.context_enabled = context_enabled
    conversation.instructions_enabled = instructions_enabled
    conversation.system_prompt = system_prompt.strip()
    conversation.save(
        update_fields=["model", "context_enabled", "instructions_enabled", "system_prompt"]
    )
