"""Projects (#22): a user's named group of conversations, with instructions added to every
conversation in it and a default model for the new ones started in it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations import fields

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

PROJECT_NAME_MAX = 80
PROJECT_INSTRUCTIONS_MAX = 8_000


class ProjectQuerySet(models.QuerySet["Project"]):
    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> ProjectQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(user_id=user.pk)


class Project(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="projects",
        verbose_name=_("user"),
    )
    name = fields.CharField(_("name"), max_length=PROJECT_NAME_MAX)
    instructions = fields.TextField(
        _("instructions"),
        blank=True,
        max_length=PROJECT_INSTRUCTIONS_MAX,
        help_text=_("Sent to the model in every conversation of the project."),
    )
    default_model = fields.CharField(
        _("default model"),
        max_length=200,
        blank=True,
        help_text=_("New chats in the project start with it."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="project_name_unique_per_user")
        ]

    def __str__(self) -> str:
        return self.name
