"""The domain: a user's conversations and the tree of messages in each."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations import fields
from conversations.attachment_models import Attachment as Attachment
from conversations.fields import TITLE_MAX as TITLE_MAX
from conversations.fields import clean_text

# Projects (#22), share links and prompts live in modules of their own, named here with
# the other models (migrations name new_share_token from here).
from conversations.library_models import PROMPT_TEXT_MAX as PROMPT_TEXT_MAX
from conversations.library_models import PROMPT_TITLE_MAX as PROMPT_TITLE_MAX
from conversations.library_models import Prompt as Prompt
from conversations.library_models import PromptQuerySet as PromptQuerySet
from conversations.library_models import SharedLink as SharedLink
from conversations.library_models import new_share_token as new_share_token

# A message's life (re-exported: callers import them from here, with the models).
from conversations.lifecycle import LIVE, Status
from conversations.lifecycle import MessageQuerySet as MessageQuerySet
from conversations.lifecycle import Outcome as Outcome
from conversations.lifecycle import end_fields as end_fields
from conversations.project_models import Project as Project
from realtime.events import MessageData, UsageData

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from catalog.quotas import TokenBudget


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> ConversationQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(user_id=user.pk, importing=False)

    def listed(self) -> ConversationQuerySet:
        """Without temporary chats: what the sidebar, search, projects and exports show."""
        return self.filter(expires_at__isnull=True)

    def expired(self, now: dt.datetime) -> ConversationQuerySet:
        """Temporary chats whose time is up at `now`."""
        return self.filter(expires_at__lte=now)

    def retitle(self, conversation_id: int, *, expected: str, title: str) -> bool:
        """Replace the title unless it is no longer `expected` (renamed meanwhile)."""
        return bool(self.filter(pk=conversation_id, title=expected).update(title=title))


class Conversation(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="conversations",
        verbose_name=_("user"),
    )
    title = fields.CharField(_("title"), max_length=TITLE_MAX, default="New chat")
    model = fields.CharField(_("model"), max_length=200, blank=True)
    system_prompt = fields.TextField(_("system prompt"), blank=True)
    context_enabled = models.BooleanField(
        _("use context"),
        default=True,
        help_text=_("Send the conversation's history with each message."),
    )
    instructions_enabled = models.BooleanField(
        _("use custom instructions"),
        default=True,
        help_text=_("Send the owner's custom instructions with each message."),
    )
    # The tip of the active branch: the path from here to the root is what the page
    # shows and what the model is sent. Regenerations and edits move it.
    current_leaf = models.ForeignKey(
        "Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("last message shown"),
    )
    # While a comparison is open (conversations/compare.py): the sibling answer shown
    # beside the last answer of the active path, by another model. Any change of the path
    # (a post, regenerate, edit, switch, delete) closes it.
    compare_with = models.ForeignKey(
        "Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("answer compared with"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, db_index=True)
    # True while an import writes it batch by batch (conversations/transfer.py): nobody
    # sees a conversation until its last message is in.
    importing = models.BooleanField(_("being imported"), default=False, editable=False)
    # Set only on a temporary chat (started with the new-chat page's toggle): kept out of
    # the sidebar, search and exports, and deleted with its messages at this time
    # (conversations.organise.purge_temporary). Null: an ordinary conversation, kept.
    expires_at = models.DateTimeField(
        _("temporary: deleted at"), null=True, blank=True, db_index=True, editable=False
    )
    # Pinned ones head the sidebar; archived ones leave it (and stay searchable) until
    # restored from the archive page. Archiving unpins.
    pinned = models.BooleanField(_("pinned"), default=False)
    archived = models.BooleanField(_("archived"), default=False)
    # The project it is in (#22): out of the sidebar's "Chats", on the project's page, with
    # the project's instructions in its context. Deleting a project either deletes its
    # conversations (conversations.projects.delete_project) or sets this back to null.
    project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
        verbose_name=_("project"),
    )

    objects = ConversationQuerySet.as_manager()

    # Every message of the conversation, oldest first, when an action has read them all
    # under its lock and added the ones it created: path_to() then reads nothing.
    # Never saved; None (read them) on any conversation loaded the usual way.
    known_messages: list[Message] | None = None

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-updated_at"]),
            # The sidebar: a user's unarchived conversations outside projects (project
            # null) or in one project, pinned first, newest first.
            models.Index(
                fields=["user", "archived", "project", "-pinned", "-updated_at", "-id"],
                name="conversation_sidebar_idx",
            ),
        ]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self) -> str:
        return self.title

    @property
    def is_temporary(self) -> bool:
        return self.expires_at is not None

    def live_answer(self) -> Message | None:
        """The answer being written (the older one, when a comparison writes two)."""
        return self.messages.filter(role=Message.Role.ASSISTANT, status__in=Message.LIVE).first()

    def active_path(self) -> list[Message]:
        """The messages from the root to current_leaf, oldest first, in one query."""
        if self.current_leaf_id is None:
            return []
        return self.path_to(self.current_leaf_id)

    def path_to(self, message_id: int) -> list[Message]:
        """The branch from the root to message_id, oldest first, in one query."""
        return _path(message_id, {m.pk: m for m in self.all_messages()})

    def all_messages(self) -> list[Message]:
        """Every message, oldest first: known_messages if set, else one query."""
        if self.known_messages is not None:
            return self.known_messages
        return list(self.messages.all())

    def active_thread(self) -> list[Message]:
        """The active path with its branches, in one query: what the page shows.

        Each message gets its place among its versions (its parent's children, oldest
        first), which the "< 2/3 >" switcher shows and steps through.
        """
        if self.current_leaf_id is None:
            return []
        everything = list(self.messages.all())
        children: dict[int | None, list[int]] = {}
        for m in everything:  # Already in (created_at, id) order: Meta.ordering.
            children.setdefault(m.parent_id, []).append(m.pk)
        by_id = {m.pk: m for m in everything}
        path = _path(self.current_leaf_id, by_id)
        for m in path:
            m.set_branch(children[m.parent_id])
        # An open comparison: its other side, a sibling of the path's last answer.
        other = by_id.get(self.compare_with_id) if self.compare_with_id else None
        last = path[-1] if path else None
        if (
            other is not None
            and last is not None
            and last.role == Message.Role.ASSISTANT
            and other.parent_id == last.parent_id
            and other.pk != last.pk
        ):
            other.set_branch(children[other.parent_id])
            last.compared = other
        return path

    def newest_leaf_under(self, message_id: int) -> int:
        """The most recent message at the end of any branch below message_id (or itself)."""
        everything = list(self.messages.values_list("pk", "parent_id"))
        below = {message_id}
        for pk, parent_id in everything:  # Parents come before their children.
            if parent_id in below:
                below.add(pk)
        has_children = {parent_id for _, parent_id in everything if parent_id in below}
        leaves = [pk for pk, _ in everything if pk in below and pk not in has_children]
        return leaves[-1]


def _path(message_id: int, by_id: dict[int, Message]) -> list[Message]:
    path: list[Message] = []
    node = by_id.get(message_id)
    while node is not None:
        path.append(node)
        node = by_id.get(node.parent_id) if node.parent_id else None
    path.reverse()
    return path


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system", _("System")
        USER = "user", _("User")
        ASSISTANT = "assistant", _("Assistant")

    class Rating(models.TextChoices):
        UP = "up", _("Good answer")
        DOWN = "down", _("Bad answer")

    # Declared with the message's life (conversations/lifecycle.py), named here as ever.
    Status = Status
    LIVE = LIVE

    # The "< 2/3 >" switcher: this message's place among its versions (its parent's
    # children). Set by Conversation.active_thread(); a lone message is 1 of 1.
    branch_index = 1
    branch_count = 1
    previous_version_id: int | None = None
    next_version_id: int | None = None
    # On the active path's last answer while a comparison is open: the other side
    # (active_thread() sets it; conversations/compare.py).
    compared: Message | None = None
    # The quota behind token_cap, when the action that created the answer knows it.
    token_budget: TokenBudget | None = None
    # Its attachments when the code that made or read it has them (no query then).
    known_attachments: list[Attachment] | None = None

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name=_("conversation"),
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        verbose_name=_("previous message"),
    )
    role = fields.CharField(_("role"), max_length=16, choices=Role.choices)
    content = fields.TextField(_("content"), blank=True)
    # Sanitized HTML of a finished message, rendered once so page loads never re-render.
    html = fields.TextField(_("rendered HTML"), blank=True)
    # A reasoning model's thinking, kept apart from the answer: shown folded above it,
    # never sent back to the model. Plain text (the page escapes it).
    reasoning = fields.TextField(_("reasoning"), blank=True)
    # How long the model thought: from its first thinking to its first answer text.
    reasoning_seconds = models.FloatField(_("reasoning time (seconds)"), null=True, blank=True)
    status = fields.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DONE, db_index=True
    )
    finish_reason = fields.CharField(_("finish reason"), max_length=32, blank=True)
    error_code = fields.CharField(_("error code"), max_length=40, blank=True)
    error = fields.TextField(_("error"), blank=True)
    # When the upstream refused for rate limiting (HTTP 429): how many seconds it asked
    # the client to wait (its Retry-After), for the client to show or count down.
    retry_after = models.PositiveIntegerField(_("retry after (seconds)"), null=True, blank=True)
    model = fields.CharField(_("model"), max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), null=True, blank=True)
    total_tokens = models.PositiveIntegerField(_("total tokens"), null=True, blank=True)
    # Of completion_tokens, those spent reasoning, when the model server reports them.
    reasoning_tokens = models.PositiveIntegerField(_("reasoning tokens"), null=True, blank=True)
    # An answer's oldest history message the model was sent: older ones on its branch had
    # left the model's context window (the page marks where). Null: all of them were sent.
    context_from_id = models.BigIntegerField(_("context starts at message"), null=True, blank=True)
    # An answer's question had documents too long for the model's window (#21): how much
    # of each was sent, [{"name": ..., "percent": ...}] (the page says so). Empty: all.
    context_cut = models.JSONField(_("documents cut to fit"), default=list, blank=True)
    # The tokens (prompt and reply, every round) a live answer may spend before a token
    # quota is reached; null: no token quota applied. Live answers' caps count as spent
    # for the next answer's budget (conversations.admission.check_quota).
    token_cap = models.PositiveIntegerField(_("token budget"), null=True, blank=True)
    # Which server process streams this answer (settings.INSTANCE_ID).
    worker = fields.CharField(_("server process"), max_length=200, blank=True)
    # How many files the message has (#21): 0 for almost every message, so a page or a
    # frame shows one without a query for its attachments.
    attachment_count = models.PositiveSmallIntegerField(_("attachments"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Touched by every checkpoint: a streaming answer whose updated_at goes stale has
    # lost its process.
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The owner's thumbs up or down on an answer (empty: not rated), for admins to find
    # bad answers; only the conversation's owner rates, so one per answer is per user.
    rating = fields.CharField(
        _("rating"), max_length=4, choices=Rating.choices, blank=True, db_index=True
    )
    rated_at = models.DateTimeField(_("rated"), null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"])]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        return f"{self.role} #{self.pk} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE

    @property
    def thought_seconds(self) -> int | None:
        """How long the model thought, in whole seconds as the page shows it (at least 1)."""
        if self.reasoning_seconds is None:
            return None
        return max(1, round(self.reasoning_seconds))

    def rate(self, value: str) -> None:
        """Set (with "" clear) the owner's rating; conversations.actions.rate_answer checks
        who and what first."""
        self.rating = value
        self.rated_at = timezone.now() if value else None
        Message.objects.filter(pk=self.pk).update(rating=self.rating, rated_at=self.rated_at)

    def with_fields(self, fields: Mapping[str, object]) -> Message:
        """A copy with these columns set as the database would store them (text cleaned
        as the fields clean it), without reading the row back."""
        changed = copy.copy(self)
        for name, value in fields.items():
            setattr(changed, name, clean_text(value) if isinstance(value, str) else value)
        return changed

    @property
    def comparison(self) -> list[Message]:
        """Both sides of an open comparison, the older first (none without one)."""
        if self.compared is None:
            return []
        return sorted((self, self.compared), key=lambda m: (m.created_at, m.pk))

    def set_branch(self, sibling_ids: list[int]) -> None:
        index = sibling_ids.index(self.pk)
        self.branch_index = index + 1
        self.branch_count = len(sibling_ids)
        self.previous_version_id = sibling_ids[index - 1] if index > 0 else None
        self.next_version_id = sibling_ids[index + 1] if index + 1 < len(sibling_ids) else None

    def usage(self) -> UsageData | None:
        if self.total_tokens is None:
            return None
        usage: UsageData = {
            "prompt_tokens": self.prompt_tokens or 0,
            "completion_tokens": self.completion_tokens or 0,
            "total_tokens": self.total_tokens,
        }
        if self.reasoning_tokens is not None:
            usage["reasoning_tokens"] = self.reasoning_tokens
        return usage

    def attachment_list(self) -> list[Attachment]:
        """Its attachments in order: none without a query when it has none, and none
        when they were prefetched or are known (Message.known_attachments)."""
        if not self.attachment_count:
            return []
        if self.known_attachments is None:
            self.known_attachments = list(self.attachments.all())
        return self.known_attachments

    def as_event(self, *, seq: int | None = None) -> MessageData:
        """The protocol's Message object (docs/protocol.md)."""
        return {
            "id": self.pk,
            "parent_id": self.parent_id,
            "role": self.role,
            "status": self.status,
            "content": self.content,
            "html": self.html,
            "reasoning": self.reasoning,
            "reasoning_seconds": self.reasoning_seconds,
            "model": self.model,
            "finish_reason": self.finish_reason or None,
            "error_code": self.error_code,
            "error": self.error,
            "usage": self.usage(),
            "retry_after": self.retry_after,
            "context_from_id": self.context_from_id,
            "context_cut": self.context_cut,
            "rating": self.rating or None,
            "attachments": [a.as_event() for a in self.attachment_list()],
            "seq": seq,
            "created_at": self.created_at.isoformat(),
        }
