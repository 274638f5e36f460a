"""Organising conversations: rename, pin, archive, delete, and temporary chats' end.

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
from conversations.actions import ActionError, title_from_text
from conversations.fields import clean_text
from conversations.models import Conversation
from realtime import events
from realtime.publish import publish, stop_answers

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


def set_pinned(*, conversation: Conversation, pinned: object) -> None:
    """Pin it to the top of the sidebar, or unpin it; an archived one is restored too."""
    conversation.pinned = _flag(pinned, "pinned")
    if conversation.pinned:
        conversation.archived = False
    conversation.save(update_fields=["pinned", "archived"])


def set_archived(*, conversation: Conversation, archived: object) -> None:
    """Archive it (out of the sidebar, still searchable; unpinned) or restore it."""
    conversation.archived = _flag(archived, "archived")
    if conversation.archived:
        conversation.pinned = False
    conversation.save(update_fields=["pinned", "archived"])


def archive_all_conversations(*, user: AbstractBaseUser | AnonymousUser) -> int:
    """Archive every conversation of the user still in the sidebar. Returns how many."""
    with transaction.atomic():
        count = (
            Conversation.objects.for_user(user)
            .filter(archived=False)
            .update(archived=True, pinned=False)
        )
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
