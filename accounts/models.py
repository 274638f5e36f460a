"""Each user's own settings, one row per user, kept on the server so every device agrees."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

DISPLAY_NAME_MAX = 60
SYSTEM_PROMPT_MAX = 8000


class UserSettings(models.Model):
    class Theme(models.TextChoices):
        SYSTEM = "system", _("Same as the device")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    class Language(models.TextChoices):
        AUTO = "", _("Same as the browser")
        ENGLISH = "en", "English"
        CHINESE = "zh-hans", "简体中文"
        TRADITIONAL_CHINESE = "zh-hant", "繁體中文"

    class SendKey(models.TextChoices):
        ENTER = "enter", _("Enter sends, Shift+Enter starts a new line")
        CTRL_ENTER = "ctrl-enter", _("Ctrl+Enter (⌘+Enter) sends, Enter starts a new line")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="chat_settings",
        verbose_name=_("user"),
    )
    display_name = models.CharField(_("display name"), max_length=DISPLAY_NAME_MAX, blank=True)
    # The avatar is stored re-encoded (a small PNG) in the database, not on disk, so
    # every instance behind the load balancer serves it without a shared volume.
    avatar = models.BinaryField(_("avatar"), blank=True, default=b"", editable=False)
    avatar_version = models.PositiveIntegerField(_("avatar version"), default=0, editable=False)
    theme = models.CharField(_("theme"), max_length=8, choices=Theme.choices, default=Theme.SYSTEM)
    language = models.CharField(
        _("language"), max_length=16, choices=Language.choices, default="", blank=True
    )
    default_model = models.CharField(_("default model"), max_length=200, blank=True)
    system_prompt = models.TextField(_("default system prompt"), blank=True)
    # None: the model server's own default (nothing is sent).
    temperature = models.FloatField(
        _("temperature"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
    )
    top_p = models.FloatField(
        _("top_p"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
    )
    send_key = models.CharField(
        _("send with"), max_length=12, choices=SendKey.choices, default=SendKey.ENTER
    )
    # An IANA name ("Asia/Shanghai"), checked against zoneinfo (accounts.timezones); empty
    # until the browser reports its own on the first page, then only the settings change it.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("user settings")
        verbose_name_plural = _("user settings")

    def __str__(self) -> str:
        return f"settings of user #{self.user_id}"

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters sent upstream (only those the user set)."""
        params: dict[str, Any] = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.top_p is not None:
            params["top_p"] = self.top_p
        return params


def settings_for(user: AbstractBaseUser | AnonymousUser) -> UserSettings:
    """The user's settings; an unsaved default row for one who never saved any."""
    if not user.is_authenticated:
        return UserSettings()
    cached: UserSettings | None = getattr(user, "_chat_settings_cache", None)
    if cached is None:
        if get_user_model().chat_settings.is_cached(user):  # type: ignore[arg-type]
            # Read with the user (select_related("user__chat_settings")): no query.
            cached = getattr(user, "chat_settings", None)
        else:
            cached = UserSettings.objects.filter(user_id=user.pk).first()
        cached = cached or UserSettings(user_id=user.pk)
        user._chat_settings_cache = cached  # type: ignore[attr-defined]
    return cached


def initials(name: str) -> str:
    """One or two letters for an avatar without an image: "Ada Lovelace" -> "AL"."""
    words = [w for w in name.replace("_", " ").replace(".", " ").split() if w]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper() if words[0].isascii() else words[0][:1]
    return (words[0][:1] + words[-1][:1]).upper()


class ApiToken(models.Model):
    """A personal access token for the API (accounts.api_tokens makes and checks them).

    Only the secret's SHA-256 is stored, with its first characters to recognise it by
    (`prefix`) and a public id to name it in URLs, logs and the usage ledger. A revoked
    token keeps its row (who revoked it, when) for audit.
    """

    class Scope(models.TextChoices):
        CHAT = "chat", _("Chat: post messages and get answers (also /v1)")
        MODELS_READ = "models:read", _("List models")
        CONVERSATIONS_READ = "conversations:read", _("Read conversations")
        CONVERSATIONS_WRITE = "conversations:write", _("Create, change and delete conversations")
        USAGE_READ = "usage:read", _("Read usage and limits")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("owner"),
    )
    name = models.CharField(_("name"), max_length=100)
    public_id = models.CharField(_("public id"), max_length=32, unique=True, editable=False)
    prefix = models.CharField(_("starts with"), max_length=16, editable=False)
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    # Empty: every model the owner may use.
    models_allowed = models.JSONField(_("models allowed"), default=list, blank=True)
    # None: only the owner's own quota. Never raises it: both limits apply.
    requests_per_hour = models.PositiveIntegerField(_("requests per hour"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    last_used_ip = models.GenericIPAddressField(
        _("last used from"), null=True, blank=True, editable=False
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("revoked by"),
    )

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def state(self, now: dt.datetime) -> str:
        """ "revoked", "expired" or "active" at `now` (a revocation wins: it is for good)."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"
