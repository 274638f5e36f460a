"""Workflows that touch several models: validate, write in one transaction, publish after commit.

Views and the answer engine (streaming.answers) call these; they never save messages
themselves. Each function is synchronous (one transaction); async callers wrap it in
database_sync_to_async. Starting the model's answer is the engine's next step, taken only
after the action has returned, i.e. after the commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import settings_for
from catalog import clock, quotas
from catalog import config as catalog
from chatweb import visibility
from conversations import admission, projects
from conversations import attachments as attaching
from conversations.fields import clean_text
from conversations.models import TITLE_MAX, Attachment, Conversation, Message
from realtime import events
from realtime.codes import ProtocolError
from realtime.publish import publish

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 100_000


# A request we refuse: a code declared in realtime/codes.py (docs/protocol.md), readable
# text, and the code's HTTP status.
ActionError = ProtocolError

# Admission (quotas, answers in flight, the user's lock) lives in conversations/admission.py.
check_quota = admission.check_quota
answers_in_flight = admission.answers_in_flight
lock_user = admission.lock_user


def _clean_text(text: object, *, files: bool = False) -> str:
    # What is stored is cleaned by the fields; a text that cleans to nothing is empty
    # (allowed when files go with it: a screenshot needs no words).
    if files and (text is None or (isinstance(text, str) and not clean_text(text).strip())):
        return ""
    if not isinstance(text, str) or not clean_text(text).strip():
        raise ActionError("empty_text", _("Type a message first."))
    if len(text) > MAX_MESSAGE_CHARS:
        raise ActionError(
            "too_long",
            _("The message is %(length)s characters long; the limit is %(limit)s.")
            % {"length": f"{len(text):,}", "limit": f"{MAX_MESSAGE_CHARS:,}"},
        )
    return text


def clean_model(user: AbstractBaseUser | AnonymousUser, model: object, current: str) -> str:
    """The model to use: `model` if this user may (the catalog decides), else refused;
    none given: the conversation's if still allowed, else the user's default."""
    try:
        if model in (None, ""):
            chosen = catalog.default_for(user, current)
            return chosen or catalog.check_allowed(user, None)
        return catalog.check_allowed(user, model)
    except catalog.ModelUnavailable as exc:
        raise ActionError(exc.code, exc.message) from exc


def title_from_text(text: str) -> str:
    line = " ".join(text.split())
    if visibility.is_blank(line):
        return "New chat"
    return (line[: TITLE_MAX - 1] + "…") if len(line) > TITLE_MAX else line


def _new_answer(
    conversation: Conversation,
    parent: Message,
    model: str,
    budget: quotas.TokenBudget | None,
) -> Message:
    answer = Message.objects.claim(
        conversation=conversation, parent=parent, model=model, budget=budget
    )
    if conversation.known_messages is not None:
        conversation.known_messages.append(answer)
    conversation.current_leaf = answer
    conversation.compare_with = None  # a new answer on the path closes a comparison
    conversation.updated_at = timezone.now()
    # One UPDATE for everything posting changes on the conversation (title included).
    conversation.save(
        update_fields=["current_leaf", "compare_with", "updated_at", "model", "title"]
    )
    publish(conversation.pk, events.message_frame(answer.as_event()))
    return answer


def temporary_expiry() -> dt.datetime:
    """When a temporary chat started now is deleted."""
    return clock.now() + dt.timedelta(hours=settings.TEMPORARY_CHAT_HOURS)


def start_conversation(
    *,
    user: AbstractBaseUser | AnonymousUser,
    text: object,
    model: object = None,
    temporary: bool = False,
    project_id: object = None,
    attachments: object = None,
) -> Message:
    """Create a conversation from its first message; returns the pending answer.

    The answer's `conversation` is the new conversation (already loaded). It starts with
    the user's default model (unless one is chosen) and default system prompt (accounts'
    settings page). A temporary one is deleted TEMPORARY_CHAT_HOURS after it starts.
    Started in one of the user's projects (`project_id`), it is in that project and
    starts with the project's default model (unless one is chosen); a temporary chat
    cannot be.
    """
    if user.pk is None:
        raise ActionError("not_signed_in", _("Sign in to start a conversation."))
    ids = attaching.clean_ids(attachments)
    text = _clean_text(text, files=bool(ids))
    project = projects.project_for(user, project_id)
    if project is not None and temporary:
        raise projects.refuse_temporary()
    preferences = settings_for(user)
    default = (project.default_model if project else "") or preferences.default_model
    # The default model if the catalog still lets them use it, else the site's.
    chosen = clean_model(user, model, default)
    with transaction.atomic():
        lock_user(user.pk)
        budget = check_quota(user)
        files = attaching.pending_for(user.pk, ids)
        attaching.check_model_reads(chosen, files)
        conversation = Conversation.objects.create(
            user_id=user.pk,
            title=title_from_text(text or files[0].name),
            model=chosen,
            system_prompt=preferences.system_prompt,
            expires_at=temporary_expiry() if temporary else None,
            project=project,
        )
        conversation.known_messages = []
        return _post(conversation, text, chosen, budget, files)


def post_user_message(
    *, conversation: Conversation, text: object, model: object = None, attachments: object = None
) -> Message:
    """Save the user's message (before any model call) and create the pending answer.

    Only `conversation.pk` and `conversation.user_id` are used: the row is read again,
    locked, and only if it is that user's. The answer's
    conversation then holds its owner (with their settings) and every message
    (known_messages), so the generation can start without reading them again.
    """
    ids = attaching.clean_ids(attachments)
    text = _clean_text(text, files=bool(ids))
    with transaction.atomic():
        # Lock the conversation so two tabs cannot both start an answer, and its owner's
        # row in the same statement so the concurrency check holds (as lock_user does).
        # Unordered and unsliced (one row by its key): first() would make the database
        # sort by Meta.ordering and Django compile that ordering, every post.
        locked = next(
            iter(
                Conversation.objects.select_related("user__chat_settings", "project")
                .defer("user__chat_settings__avatar")
                .select_for_update(of=("self", "user"))
                .filter(pk=conversation.pk, user_id=conversation.user_id)
                .order_by()
            ),
            None,
        )
        if locked is None:
            # Deleted from another tab while this one stayed open.
            raise ActionError("not_found", _("This conversation was deleted."))
        chosen = clean_model(locked.user, model, locked.model)
        # Every message, read once: the busy check now, the answer's context next.
        locked.known_messages = list(locked.messages.all())
        if any(m.role == Message.Role.ASSISTANT and m.is_live for m in locked.known_messages):
            raise ActionError("busy", _("Wait for the current answer to finish, or stop it."))
        budget = check_quota(locked.user)
        files = attaching.pending_for(locked.user_id, ids)
        attaching.check_model_reads(chosen, files)
        if locked.current_leaf_id is None:
            # Saved with the rest by _new_answer; cleaned as the field cleans it.
            locked.title = clean_text(title_from_text(text or files[0].name))
            publish(locked.pk, events.title_frame(locked.pk, locked.title))
        return _post(locked, text, chosen, budget, files)


def _post(
    conversation: Conversation,
    text: str,
    model: str,
    budget: quotas.TokenBudget | None,
    files: list[Attachment],
) -> Message:
    user_message = Message.objects.create(
        conversation=conversation,
        parent_id=conversation.current_leaf_id,
        role=Message.Role.USER,
        content=text,
        status=Message.Status.DONE,
        finished_at=timezone.now(),
        attachment_count=len(files),
    )
    attaching.link(user_message, files)
    if conversation.known_messages is not None:
        conversation.known_messages.append(user_message)
    publish(conversation.pk, events.message_frame(user_message.as_event()))
    conversation.model = model
    comparing = conversation.compare_with_id is not None
    answer = _new_answer(conversation, user_message, model, budget)
    if comparing:  # the comparison closed: pages show the thread again without it
        _branch_changed(conversation)
    return answer


def _locked_for_change(conversation: Conversation) -> Conversation:
    """Lock the conversation; refuse while an answer is written (the tree is then in use)."""
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.live_answer() is not None:
        raise ActionError("busy", _("Wait for the current answer to finish, or stop it."))
    return locked


def _message_in(conversation: Conversation, message_id: object) -> Message:
    """A message of this conversation, or a not-found refusal (never another one's)."""
    if isinstance(message_id, bool) or not isinstance(message_id, int):
        raise ActionError("bad_message", _("message_id must be the id of a message."))
    try:
        return conversation.messages.get(pk=message_id)
    except Message.DoesNotExist:
        raise ActionError(
            "message_not_found", _("That message is not in this conversation (any more).")
        ) from None


def _check_answer_allowed(conversation: Conversation) -> quotas.TokenBudget | None:
    lock_user(conversation.user_id)
    return check_quota(conversation.user)


def _branch_changed(conversation: Conversation) -> None:
    publish(conversation.pk, events.path_frame(conversation.pk, conversation.current_leaf_id))


def regenerate(
    *, conversation: Conversation, message_id: object = None, model: object = None
) -> Message:
    """A new answer; the old one stays a branch (a sibling) with its whole continuation.

    message_id: the answer to write again (any answer on the tree), or a user message
    to answer anew; None is the last user message on the active path.
    """
    with transaction.atomic():
        locked = _locked_for_change(conversation)
        if message_id is None:
            path = locked.active_path()
            question = next((m for m in reversed(path) if m.role == Message.Role.USER), None)
            if question is None:
                raise ActionError("nothing_to_regenerate", _("There is no message to answer yet."))
        else:
            target = _message_in(locked, message_id)
            if target.role == Message.Role.USER:
                question = target
            elif target.parent is not None and target.parent.role == Message.Role.USER:
                question = target.parent
            else:
                raise ActionError("nothing_to_regenerate", _("That message answers nothing."))
        locked.model = clean_model(locked.user, model, locked.model)
        attaching.check_model_reads(locked.model, question.attachment_list())
        budget = _check_answer_allowed(locked)
        answer = _new_answer(locked, question, locked.model, budget)
        _branch_changed(locked)
        return answer


def edit_message(
    *, conversation: Conversation, message_id: object, text: object, model: object = None
) -> Message:
    """Resend a user message with new text (and its files): a sibling of the old one,
    answered at once. The old message and everything after it stay as the other branch.
    """
    with transaction.atomic():
        locked = _locked_for_change(conversation)
        original = _message_in(locked, message_id)
        if original.role != Message.Role.USER:
            raise ActionError("not_editable", _("Only your own messages can be edited."))
        text = _clean_text(text, files=original.attachment_count > 0)
        budget = _check_answer_allowed(locked)
        chosen = clean_model(locked.user, model, locked.model)
        files = original.attachment_list()
        attaching.check_model_reads(chosen, files)
        edited = Message.objects.create(
            conversation=locked,
            parent_id=original.parent_id,
            role=Message.Role.USER,
            content=text,
            status=Message.Status.DONE,
            finished_at=timezone.now(),
            attachment_count=len(files),
        )
        attaching.copy_to(edited, files)
        publish(locked.pk, events.message_frame(edited.as_event()))
        locked.model = chosen
        answer = _new_answer(locked, edited, chosen, budget)
        _branch_changed(locked)
        return answer


def switch_branch(*, conversation: Conversation, message_id: object) -> Message:
    """Show the branch through message_id: the active path moves to its newest leaf."""
    with transaction.atomic():
        locked = _locked_for_change(conversation)
        chosen = _message_in(locked, message_id)
        leaf_id = locked.newest_leaf_under(chosen.pk)
        # Choosing a side of a comparison closes it, even the side already on the path.
        if leaf_id != locked.current_leaf_id or locked.compare_with_id is not None:
            locked.current_leaf_id = leaf_id
            locked.compare_with_id = None
            locked.save(update_fields=["current_leaf", "compare_with"])
            _branch_changed(locked)
        return chosen


def delete_message(*, conversation: Conversation, message_id: object) -> None:
    """Delete a message and everything that follows it on its branches.

    The active path then goes to the newest remaining sibling's branch, or ends at the
    deleted message's parent when it had none.
    """
    with transaction.atomic():
        locked = _locked_for_change(conversation)
        doomed = _message_in(locked, message_id)
        parent_id = doomed.parent_id
        on_active_path = any(m.pk == doomed.pk for m in locked.active_path())
        siblings = locked.messages.filter(parent_id=parent_id).exclude(pk=doomed.pk)
        newest_sibling = siblings.order_by("-created_at", "-id").values_list("pk", flat=True)
        doomed.delete()  # The children go with it (Message.parent cascades).
        survivor = newest_sibling.first()
        if not on_active_path:
            pass  # Another branch went: the page shows the same messages.
        elif survivor is not None:
            locked.current_leaf_id = locked.newest_leaf_under(survivor)
        else:
            locked.current_leaf_id = parent_id
        locked.compare_with_id = None
        locked.updated_at = timezone.now()
        locked.save(update_fields=["current_leaf", "compare_with", "updated_at"])
        _branch_changed(locked)


def rate_answer(*, conversation: Conversation, message_id: object, rating: object) -> Message:
    """The owner's thumbs up ("up"), down ("down") or neither ("") on a finished answer.
    The caller has found the conversation among the user's own; nothing is written for a
    refusal."""
    if not isinstance(rating, str) or rating not in {"", *Message.Rating.values}:
        raise ActionError("bad_rating", _("A rating is up, down or nothing."))
    message = _message_in(conversation, message_id)
    if message.role != Message.Role.ASSISTANT or message.is_live:
        raise ActionError("not_ratable", _("Only a finished answer can be rated."))
    message.rate(rating)
    return message
