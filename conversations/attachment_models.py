"""Attachments (#21): a file a user uploaded, kept through Django's storage API.

A row is made when the upload has been checked and stored (conversations/attachments.py):
then it is the user's, on no message ("pending") until a post, an edit or an import links
it to one. A message's attachments go where it goes: a conversation's, an account's or a
message's deletion deletes the rows (CASCADE) and, after the commit, their files (the
receiver below), unless another row still names the same file (an edited message's copy
shares its question's files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from realtime.events import AttachmentData


def attachment_storage() -> Storage:
    """The storage every attachment is in (settings.STORAGES["attachments"])."""
    return storages["attachments"]


class AttachmentQuerySet(models.QuerySet["Attachment"]):
    def for_user(self, user_id: int) -> AttachmentQuerySet:
        return self.filter(user_id=user_id)

    def pending(self) -> AttachmentQuerySet:
        """Uploaded and on no message yet."""
        return self.filter(message__isnull=True)


class Attachment(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        DOCUMENT = "document", _("Document")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="attachments",
        verbose_name=_("user"),
    )
    message = models.ForeignKey(
        "conversations.Message",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
        verbose_name=_("message"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # The name it was uploaded with (cleaned: no path, no control characters).
    name = models.CharField(_("name"), max_length=255)
    # What it is served as: a re-encoded image's type, or a document's (never HTML or SVG).
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    file = models.FileField(_("file"), storage=attachment_storage, max_length=300)
    thumbnail = models.FileField(
        _("thumbnail"), storage=attachment_storage, max_length=300, blank=True
    )
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    # A document's text as extracted on the server (what the model reads), its token
    # count (catalog.tokens) and, for a PDF, its pages.
    text = models.TextField(_("text"), blank=True)
    text_tokens = models.PositiveIntegerField(_("text tokens"), default=0)
    pages = models.PositiveIntegerField(_("pages"), null=True, blank=True)
    # The stored bytes' SHA-256 (the export carries it; tests compare what the model got).
    sha256 = models.CharField(_("checksum (SHA-256)"), max_length=64)
    # Its place among its message's attachments.
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        indexes = [models.Index(fields=["user", "message"], name="attachment_user_message")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return self.kind == self.Kind.IMAGE

    def as_event(self) -> AttachmentData:
        """The protocol's Attachment object (docs/protocol.md): what a page shows."""
        return {
            "id": self.pk,
            "kind": self.kind,
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "width": self.width,
            "height": self.height,
            "pages": self.pages,
            "text_tokens": self.text_tokens,
        }

    def stored_names(self) -> list[str]:
        return [name for name in (self.file.name, self.thumbnail.name) if name]


def delete_unreferenced(names: list[str]) -> None:
    """Delete the stored files no attachment row names any more."""
    if not names:
        return
    used: set[str] = set()
    for file, thumbnail in Attachment.objects.filter(
        models.Q(file__in=names) | models.Q(thumbnail__in=names)
    ).values_list("file", "thumbnail"):
        used.update((file, thumbnail))
    storage = attachment_storage()
    for name in names:
        if name not in used:
            storage.delete(name)


@receiver(post_delete, sender=Attachment)
def _delete_files(sender: Any, instance: Attachment, **kwargs: Any) -> None:
    # After the commit: a rolled-back deletion keeps its files; a row deleted by a
    # cascade (its message, conversation or user) gets here too (Django's collector sends
    # post_delete for each row while a receiver is connected).
    names = instance.stored_names()
    transaction.on_commit(lambda: delete_unreferenced(names), robust=True)
