"""The domain: a user's conversations and the tree of messages in each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from conversations import fields

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

TITLE_MAX = 120


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> ConversationQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(user_id=user.pk)


class Conversation(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = fields.CharField(max_length=TITLE_MAX, default="New chat")
    model = fields.CharField(max_length=200, blank=True)
    system_prompt = fields.TextField(blank=True)
    context_enabled = models.BooleanField(
        default=True, help_text="Send the conversation's history with each message."
    )
    # The tip of the active branch: the path from here to the root is what the page
    # shows and what the model is sent. Regenerations and edits move it.
    current_leaf = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title

    def live_answer(self) -> Message | None:
        """The answer being written (at most one: actions refuse a second)."""
        return self.messages.filter(role=Message.Role.ASSISTANT, status__in=Message.LIVE).first()

    def active_path(self) -> list[Message]:
        """The messages from the root to current_leaf, oldest first, in one query."""
        if self.current_leaf_id is None:
            return []
        return self.path_to(self.current_leaf_id)

    def path_to(self, message_id: int) -> list[Message]:
        """The branch from the root to message_id, oldest first, in one query."""
        by_id = {m.pk: m for m in self.messages.all()}
        path: list[Message] = []
        node = by_id.get(message_id)
        while node is not None:
            path.append(node)
            node = by_id.get(node.parent_id) if node.parent_id else None
        path.reverse()
        return path


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        PENDING = "pending"
        STREAMING = "streaming"
        DONE = "done"
        STOPPED = "stopped"
        ERROR = "error"
        INTERRUPTED = "interrupted"

    LIVE = (Status.PENDING, Status.STREAMING)

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    role = fields.CharField(max_length=16, choices=Role.choices)
    content = fields.TextField(blank=True)
    # Sanitized HTML of a finished message, rendered once so page loads never re-render.
    html = fields.TextField(blank=True)
    status = fields.CharField(
        max_length=16, choices=Status.choices, default=Status.DONE, db_index=True
    )
    finish_reason = fields.CharField(max_length=32, blank=True)
    error_code = fields.CharField(max_length=40, blank=True)
    error = fields.TextField(blank=True)
    # When the upstream refused for rate limiting (HTTP 429): how many seconds it asked
    # the client to wait (its Retry-After), for the client to show or count down.
    retry_after = models.PositiveIntegerField(null=True, blank=True)
    model = fields.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Which server process streams this answer (settings.INSTANCE_ID).
    worker = fields.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Touched by every checkpoint: a streaming answer whose updated_at goes stale has
    # lost its process.
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.role} #{self.pk} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE

    def usage(self) -> dict[str, int] | None:
        if self.total_tokens is None:
            return None
        return {
            "prompt_tokens": self.prompt_tokens or 0,
            "completion_tokens": self.completion_tokens or 0,
            "total_tokens": self.total_tokens,
        }

    def as_event(self, *, seq: int | None = None) -> dict[str, Any]:
        """The protocol's Message object (docs/protocol.md)."""
        return {
            "id": self.pk,
            "parent_id": self.parent_id,
            "role": self.role,
            "status": self.status,
            "content": self.content,
            "html": self.html,
            "model": self.model,
            "finish_reason": self.finish_reason or None,
            "error_code": self.error_code,
            "error": self.error,
            "usage": self.usage(),
            "retry_after": self.retry_after,
            "seq": seq,
            "created_at": self.created_at.isoformat(),
        }
