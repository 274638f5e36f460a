"""Share links and saved prompts: the library's models, imported through
conversations.models."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations import fields
from conversations.fields import TITLE_MAX

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def new_share_token() -> str:
    """An unguessable link token: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


class SharedLink(models.Model):
    """A read-only public link to a conversation as it stood when shared.

    message_ids snapshots the active path at that moment, so later messages (and later
    branch switches) never show through the link. Revoking deletes the row: the link
    then answers 404.
    """

    conversation = models.ForeignKey(
        "conversations.Conversation",
        on_delete=models.CASCADE,
        related_name="shared_links",
        verbose_name=_("conversation"),
    )
    token = models.CharField(_("link token"), max_length=64, unique=True, default=new_share_token)
    title = fields.CharField(_("title"), max_length=TITLE_MAX)
    message_ids = models.JSONField(_("messages shared"), default=list)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("shared link")
        verbose_name_plural = _("shared links")

    def __str__(self) -> str:
        return f"share of {self.conversation_id}: {self.title}"


PROMPT_TITLE_MAX = 100
PROMPT_TEXT_MAX = 20_000


class PromptQuerySet(models.QuerySet["Prompt"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> PromptQuerySet:
        """The user's own prompts and every published one."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(models.Q(user_id=user.pk) | models.Q(is_public=True))


class Prompt(models.Model):
    """A saved prompt (chatgpt-web's prompt store): a short title and the text inserted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="prompts",
        verbose_name=_("user"),
    )
    title = fields.CharField(_("title"), max_length=PROMPT_TITLE_MAX)
    text = fields.TextField(_("text"), max_length=PROMPT_TEXT_MAX)
    is_public = models.BooleanField(
        default=False,
        verbose_name=_("published"),
        help_text=_("Offer this prompt to every user (administrators only)."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    objects = PromptQuerySet.as_manager()

    class Meta:
        ordering = ["title", "id"]
        verbose_name = _("prompt")
        verbose_name_plural = _("prompts")
        constraints = [
            models.UniqueConstraint(fields=["user", "title"], name="prompt_title_unique_per_user")
        ]

    def __str__(self) -> str:
        return self.title
