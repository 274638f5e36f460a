"""AuditEvent: one row per action worth answering "who did what" for. Append-only: a row
is never changed, and only the retention purge (audit.retention) deletes rows."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditRefused(Exception):
    """An audit entry may be neither changed nor deleted (only purged when it is old)."""


class Action(models.TextChoices):
    SIGNIN = "signin", _("Signed in")
    SIGNIN_FAILED = "signin.failed", _("Sign-in failed")
    SIGNOUT = "signout", _("Signed out")
    ACCOUNT_CREATE = "account.create", _("Account created")
    ACCOUNT_CHANGE = "account.change", _("Account changed")
    ACCOUNT_DELETE = "account.delete", _("Account deleted")
    ACCOUNT_GROUPS = "account.groups", _("Group membership changed")
    GROUP_CREATE = "group.create", _("Group created")
    GROUP_CHANGE = "group.change", _("Group changed")
    GROUP_DELETE = "group.delete", _("Group deleted")
    ADMIN_ADD = "admin.add", _("Added in the admin")
    ADMIN_CHANGE = "admin.change", _("Changed in the admin")
    ADMIN_DELETE = "admin.delete", _("Deleted in the admin")
    TOKEN_CREATE = "token.create", _("API token created")
    TOKEN_REVOKE = "token.revoke", _("API token revoked")
    SHARE_CREATE = "share.create", _("Share link created")
    SHARE_REVOKE = "share.revoke", _("Share link revoked")
    EXPORT = "export", _("Conversations exported")
    IMPORT = "import", _("Conversations imported")
    DELETE_ALL = "conversations.delete_all", _("All conversations deleted")
    ARCHIVE_ALL = "conversations.archive_all", _("All conversations archived")


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise AuditRefused("Audit entries cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditRefused("Audit entries cannot be deleted (only purged by retention).")

    def _purge(self) -> int:
        """Delete these rows: only audit.retention.purge() calls it."""
        return int(super().delete()[0])


class AuditEvent(models.Model):
    time = models.DateTimeField(_("time"), db_index=True)
    # No database constraint and nothing done when the user goes: the row keeps the id and
    # the username as they were (deleting a user must not have to change audit rows).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(_("actor's username"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=40, choices=Action.choices)
    target_type = models.CharField(_("target type"), max_length=100, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    target_label = models.CharField(_("target"), max_length=200, blank=True)
    address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    # Field names and counts only: never a value of a secret (docs/security.md).
    details = models.JSONField(_("details"), default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ("-time", "-id")
        indexes = [
            models.Index(fields=["action", "time"], name="audit_action_time"),
            models.Index(fields=["actor", "time"], name="audit_actor_time"),
            models.Index(fields=["target_type", "time"], name="audit_target_time"),
        ]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditRefused("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditRefused("Audit entries cannot be deleted (only purged by retention).")
