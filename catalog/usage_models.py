"""Quotas (limits per user, group and site) and the usage ledger (what each upstream request
cost). Models of the catalog app, imported through catalog.models."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog import clock


class Quota(models.Model):
    """Limits for one user, one group, or (neither) the whole site. Empty: inherit; 0: none.

    Each limit is resolved on its own: the user's row, else the most generous of the
    user's groups' rows, else the site row, else the environment (MAX_REQUEST_PER_HOUR).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="quota", verbose_name=_("user"),
    )  # fmt: skip
    group = models.OneToOneField(
        Group,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quota",
        verbose_name=_("group"),
    )
    requests_per_hour = models.PositiveIntegerField(_("requests per hour"), null=True, blank=True)
    tokens_per_day = models.PositiveIntegerField(_("tokens per day"), null=True, blank=True)
    tokens_per_month = models.PositiveIntegerField(_("tokens per month"), null=True, blank=True)
    concurrent_answers = models.PositiveIntegerField(_("answers at a time"), null=True, blank=True)
    # What the user's attached files (and their thumbnails) may take in the attachments
    # storage, in bytes, files not yet sent included.
    storage_bytes = models.PositiveBigIntegerField(
        _("storage for files (bytes)"), null=True, blank=True
    )
    # Money, in the site's CURRENCY: what the ledger's costs of a user's month may reach
    # (each user's own spending, whichever row the limit comes from).
    budget_per_month = models.DecimalField(
        _("budget per month"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )

    class Meta:
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(user__isnull=False, group__isnull=False),
                name="quota_for_user_or_group_or_site",
            ),
            models.UniqueConstraint(
                fields=["user", "group"],
                condition=models.Q(user__isnull=True, group__isnull=True),
                name="one_site_quota",
            ),
        ]

    def __str__(self) -> str:
        if self.user_id:
            return f"Quota for user {self.user}"
        if self.group_id:
            return f"Quota for group {self.group}"
        return "Site default quota"

    def clean(self) -> None:
        if self.user_id and self.group_id:
            raise ValidationError(_("A quota is for a user or for a group, not both."))
        if not self.user_id and not self.group_id:
            others = Quota.objects.filter(user__isnull=True, group__isnull=True)
            if others.exclude(pk=self.pk).exists():
                raise ValidationError(
                    _("There is already a site default quota (no user, no group): edit it.")
                )


class UsageRecord(models.Model):
    """One upstream request and what it cost. No foreign key to conversations or messages,
    so deleting a conversation (or a user) keeps the accounting."""

    class Kind(models.TextChoices):
        ANSWER = "answer", _("Answer")
        CONTINUATION = "continuation", _("Continuation")
        TITLE = "title", _("Title")
        API = "api", _("API")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="usage",
        verbose_name=_("user"),
    )
    username = models.CharField(
        _("username"), max_length=150, help_text=_("Kept when the user is deleted.")
    )
    conversation_id = models.BigIntegerField(_("conversation ID"), null=True, blank=True)
    message_id = models.BigIntegerField(_("message ID"), null=True, blank=True)
    # The public id (tok_…) of the API token that made the request, for `api` rows: a
    # string, not a foreign key (accounts sits above catalog), kept when the token goes.
    api_token = models.CharField(
        _("API token"), max_length=40, blank=True, default="", db_index=True
    )
    provider = models.CharField(_("provider"), max_length=100)
    model = models.CharField(
        _("model"), max_length=200, help_text=_("The model's name in the catalog.")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    outcome = models.CharField(
        _("outcome"), max_length=16, help_text=_("done, stopped, error or interrupted")
    )
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), default=0)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), default=0)
    total_tokens = models.PositiveIntegerField(_("total tokens"), default=0)
    estimated = models.BooleanField(
        _("estimated"),
        default=False,
        help_text=_("The upstream reported no usage; Chatweb counted the tokens."),
    )
    # At the model's prices when the row was written (catalog.costs); null: unpriced.
    cost = models.DecimalField(_("cost"), max_digits=18, decimal_places=8, null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=clock.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"])]
        verbose_name = _("usage record")
        verbose_name_plural = _("usage records")

    def __str__(self) -> str:
        return f"{self.username} {self.model} {self.kind} {self.total_tokens}"


class UsageDay(models.Model):
    """The ledger's figures of one closed day (a calendar day in TIME_ZONE) for one model
    and username, so the dashboard reads a row per day, model and user instead of a row
    per request (catalog.rollup writes it; UsageDayDone marks the day as rolled up)."""

    day = models.DateField(_("day"))
    model = models.CharField(_("model"), max_length=200)
    username = models.CharField(_("username"), max_length=150)
    answers = models.PositiveIntegerField(_("answers"), default=0)
    requests = models.PositiveIntegerField(_("requests"), default=0)
    tokens = models.PositiveBigIntegerField(_("tokens"), default=0)
    spent = models.DecimalField(_("cost"), max_digits=24, decimal_places=8, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "model", "username"], name="one_usage_day")
        ]
        verbose_name = _("usage per day")
        verbose_name_plural = _("usage per day")

    def __str__(self) -> str:
        return f"{self.day} {self.username} {self.model} {self.tokens}"


class UsageDayDone(models.Model):
    """A day whose UsageDay rows are written (in `zone`: a day rolled up in another
    TIME_ZONE is rolled up again)."""

    day = models.DateField(_("day"), unique=True)
    zone = models.CharField(_("time zone"), max_length=64)
    rolled_at = models.DateTimeField(_("rolled up at"), default=clock.now)

    class Meta:
        verbose_name = _("day rolled up")
        verbose_name_plural = _("days rolled up")

    def __str__(self) -> str:
        return f"{self.day} ({self.zone})"
