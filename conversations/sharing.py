"""Share by link: a read-only snapshot of a conversation, readable without an account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils.translation import gettext as _

from audit import record
from audit.models import Action
from conversations import attachments as attaching
from conversations.actions import ActionError
from conversations.models import Attachment, Conversation, Message, SharedLink

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def share_conversation(*, conversation: Conversation) -> SharedLink:
    """A new link showing the active path as it stands now (finished messages only).
    A temporary chat is never shared: a link would outlive what it shows."""
    if conversation.is_temporary:
        raise ActionError("temporary_not_shared", _("A temporary chat cannot be shared."))
    path = [m for m in conversation.active_path() if not m.is_live]
    if not path:
        raise ActionError("nothing_to_share", _("This conversation has no finished message yet."))
    with transaction.atomic():
        link = SharedLink.objects.create(
            conversation=conversation,
            title=conversation.title,
            message_ids=[m.pk for m in path],
        )
        _record(Action.SHARE_CREATE, link, conversation.user)
    return link


def _record(action: Action, link: SharedLink, actor: object) -> None:
    # The link's token is what reads it: only the link's id and its conversation are kept.
    record.record(
        action,
        actor=actor,
        target=link,
        target_label=link.title,
        details={"conversation_id": link.conversation_id},
    )


def revoke_share(*, user: AbstractBaseUser | AnonymousUser, token: str) -> bool:
    """Delete the user's link; True if there was one. The link then answers 404."""
    if not user.is_authenticated:
        return False
    with transaction.atomic():
        links = list(SharedLink.objects.filter(token=token, conversation__user_id=user.pk))
        for link in links:
            _record(Action.SHARE_REVOKE, link, user)
            link.delete()
    return bool(links)


def links_for_user(*, user: AbstractBaseUser | AnonymousUser) -> list[SharedLink]:
    if not user.is_authenticated:
        return []
    return list(
        SharedLink.objects.filter(conversation__user_id=user.pk).select_related("conversation")
    )


def shared_messages(*, link: SharedLink) -> list[Message]:
    """The snapshot's messages in their order, with their files (one more query when a
    message has any); ones deleted since are simply missing."""
    ids = _ids(link)
    by_id = {
        m.pk: m for m in Message.objects.filter(conversation_id=link.conversation_id, pk__in=ids)
    }
    messages = [by_id[i] for i in ids if i in by_id]
    attaching.load_for(messages)
    return messages


def _ids(link: SharedLink) -> list[int]:
    return [i for i in link.message_ids if isinstance(i, int) and not isinstance(i, bool)]


async def shared_attachment(*, token: str, attachment_id: int) -> Attachment | None:
    """A file a link's readers may fetch: on a message of the link's snapshot (a message's
    files never change: an edit makes a new message), while the link lives; else None."""
    link = (
        await SharedLink.objects.filter(token=token).only("conversation_id", "message_ids").afirst()
    )
    if link is None:
        return None
    return await Attachment.objects.filter(
        pk=attachment_id,
        message_id__in=_ids(link),
        message__conversation_id=link.conversation_id,
    ).afirst()
