"""Attachments' workflows (#21): an upload checked and stored, a post's files linked to
its message, a file read back for its owner.

An upload is two steps, so a message is sent only once every file has arrived:
1. upload(): the file is checked and made what is stored in a worker thread
   (conversations/attachment_files.py), its bytes written to the attachments storage
   (also in a worker thread: S3 is a network call), then its row made, the user's own
   and on no message (pending);
2. a post, an edit or a new conversation names the pending ids (link(), in the post's
   transaction): they become the message's, in the order given.
A refused file writes nothing: no row, and no stored bytes (written bytes are deleted
again when the row cannot be made).

The user's storage quota (catalog Quota.storage_bytes: the bytes of every file and
thumbnail of theirs, pending ones too) is checked twice: before the bytes are written
(so a file that cannot fit costs no upload to the store), and again in the row's
transaction with the user's row locked, so two uploads at once cannot both take the
last room.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.dispatch import Signal
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from catalog import config as catalog
from catalog import quotas, tokens
from conversations import attachment_files
from conversations.attachment_models import Attachment, attachment_storage
from realtime.codes import ProtocolError

logger = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
    from django.core.files.uploadedfile import UploadedFile

    from conversations.models import Message


# Sent by the worker thread that converts an upload, before it reads the file, with the
# file's `name`; receivers run in that thread. Decoding and re-encoding cost up to seconds
# of CPU a file, so they must never run on the event loop or the database thread
# (tests/conversations/test_attachment_threads.py watches which thread this comes from).
converting = Signal()


# How much nicer the conversion threads are than the process: the scheduler then gives
# the event loop (nice 0)
# about nine tenths of a core shared with a busy conversion, instead of half.
CONVERT_NICE = 10


def _lower_priority() -> None:
    """A conversion thread's own priority lowered (Linux: a thread's nice value is its own)."""
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + CONVERT_NICE
        )


@functools.cache
def _converter() -> ThreadPoolExecutor:
    """The process's conversion threads (ATTACHMENT_CONVERT_THREADS): not asyncio's default
    executor, whose threads (as many as the cores + 4) would each take an equal share of
    the core from the event loop while many uploads convert at once."""
    return ThreadPoolExecutor(
        max_workers=settings.ATTACHMENT_CONVERT_THREADS,
        thread_name_prefix="attachment-convert",
        initializer=_lower_priority,
    )


def _process(name: str, uploaded: UploadedFile) -> attachment_files.Processed:
    """Read, check and convert the upload; count a document's tokens (worker thread)."""
    converting.send(sender=Attachment, name=name)
    uploaded.seek(0)
    data = uploaded.read(settings.ATTACHMENT_MAX_BYTES + 1)
    processed = attachment_files.process(name, data)
    if processed.text:
        processed.text_tokens = tokens.count(processed.text)
    return processed


def save_files(user_id: int, processed: attachment_files.Processed) -> list[str]:
    """The bytes written to the storage under new names (worker thread): [file, thumb?]."""
    storage = attachment_storage()
    stem = f"u{user_id}/{uuid.uuid4().hex}"
    names: list[str] = []
    try:
        names.append(storage.save(f"{stem}.{processed.extension}", ContentFile(processed.data)))
        if processed.thumbnail:
            names.append(
                storage.save(
                    f"{stem}-thumb.{processed.thumbnail_extension}",
                    ContentFile(processed.thumbnail),
                )
            )
    except Exception as exc:
        # The store failed (a disk full, S3 unreachable or refusing): what was written of
        # this upload goes again, so no file is left without a row.
        logger.exception("Storing an attachment failed")
        with contextlib.suppress(Exception):
            _delete_files(names)
        raise ProtocolError(
            "attachment_storage_failed",
            _("Chatweb could not store “%(name)s” right now; attach it again in a moment.")
            % {"name": processed.name},
        ) from exc
    return names


def _delete_files(names: list[str]) -> None:
    storage = attachment_storage()
    for name in names:
        storage.delete(name)


def _stored_size(processed: attachment_files.Processed) -> int:
    return len(processed.data) + len(processed.thumbnail)


def check_room(user: AbstractBaseUser | AnonymousUser, user_id: int, name: str, size: int) -> None:
    """Refuse (attachment_quota) a file of `size` stored bytes that would take the user's
    attachments past their storage quota (none: 0)."""
    limit = quotas.limits_for(user).storage_bytes
    if not limit:
        return
    used = Attachment.objects.for_user(user_id).stored_bytes()
    if used + size > limit:
        raise ProtocolError(
            "attachment_quota",
            _(
                "You have used %(used)s of your %(limit)s for files; “%(name)s” is %(size)s. "
                "Delete conversations with files you no longer need to make room."
            )
            % {
                "used": filesizeformat(used),
                "limit": filesizeformat(limit),
                "name": name,
                "size": filesizeformat(size),
            },
        )


def _create(
    user: AbstractBaseUser | AnonymousUser,
    user_id: int,
    processed: attachment_files.Processed,
    names: list[str],
) -> Attachment:
    with transaction.atomic():
        # The user's row locked (as conversations.admission.lock_user does for answers): one
        # upload of theirs at a time counts what they use and adds its row.
        get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk").first()
        check_room(user, user_id, processed.name, _stored_size(processed))
        return Attachment.objects.create(
            user_id=user_id,
            kind=processed.kind,
            name=processed.name,
            content_type=processed.content_type,
            size=len(processed.data),
            file=names[0],
            thumbnail=names[1] if len(names) > 1 else "",
            thumbnail_size=len(processed.thumbnail) if len(names) > 1 else 0,
            width=processed.width,
            height=processed.height,
            text=processed.text,
            text_tokens=processed.text_tokens,
            pages=processed.pages,
            sha256=processed.sha256,
        )


def _then_release(work: Callable[P, T]) -> Callable[P, T]:
    """`work`, then this thread's database connection closed unless a transaction holds it.

    Under daphne, Django gives each request a thread of its own for its sync work, so an
    upload's queries open a connection in a thread that ends with the request; with
    CONN_MAX_AGE that connection was never closed (PostgreSQL kept one session per upload
    until garbage collection). A test's transaction (the test client runs the view in the
    test's thread) is left alone."""

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return work(*args, **kwargs)
        finally:
            if not connection.in_atomic_block:
                connection.close()

    return run


async def upload(*, user: AbstractBaseUser | AnonymousUser, uploaded: UploadedFile) -> Attachment:
    """One uploaded file checked, converted and stored: the user's pending attachment."""
    if user.pk is None:
        raise ProtocolError("not_signed_in", _("Sign in to attach files."))
    name = attachment_files.clean_name(uploaded.name)
    if uploaded.size is not None and uploaded.size > settings.ATTACHMENT_MAX_BYTES:
        raise attachment_files.too_large(name, uploaded.size)
    processed = await sync_to_async(_process, thread_sensitive=False, executor=_converter())(
        name, uploaded
    )
    # Best effort before anything is written; _create() checks again, under a lock.
    # A view's database work, as Django's async views do it (the request's connection;
    # channels' database_sync_to_async would close it: a test's transaction with it).
    user_id: int = user.pk
    await sync_to_async(_then_release(check_room))(user, user_id, name, _stored_size(processed))
    names = await sync_to_async(save_files, thread_sensitive=False)(user_id, processed)
    try:
        attachment: Attachment = await sync_to_async(_then_release(_create))(
            user, user_id, processed, names
        )
    except BaseException:
        await sync_to_async(_delete_files, thread_sensitive=False)(names)
        raise
    return attachment


# --- A post's files ----------------------------------------------------------------------


def clean_ids(value: object) -> list[int]:
    """The attachment ids a post names (a list of integers, each once), or refused."""
    if value is None or value == []:
        return []
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise ProtocolError("bad_frame", _("Attachments are a list of attachment ids."))
    if len(set(value)) != len(value):
        raise ProtocolError("bad_frame", _("An attachment is named twice."))
    limit = settings.ATTACHMENT_MAX_PER_MESSAGE
    if len(value) > limit:
        raise ProtocolError(
            "too_many_attachments",
            ngettext(
                "A message may have at most %(limit)s file.",
                "A message may have at most %(limit)s files.",
                limit,
            )
            % {"limit": limit},
        )
    return value


def pending_for(user_id: int, ids: list[int]) -> list[Attachment]:
    """The user's pending attachments `ids`, locked, in that order; refused if one is
    not theirs, not found, or already on a message."""
    if not ids:
        return []
    rows = {
        a.pk: a
        for a in Attachment.objects.select_for_update()
        .filter(pk__in=ids, user_id=user_id, message__isnull=True)
        .order_by()
    }
    if len(rows) != len(ids):
        raise ProtocolError(
            "attachment_not_found",
            _("An attached file is gone (removed, or sent already); attach it again."),
        )
    return [rows[pk] for pk in ids]


def check_model_reads(model: str, attachments: list[Attachment]) -> None:
    """Refuse images for a model the catalog does not mark as reading them (before
    anything is written): a post, an edit or a regeneration of a message with images."""
    if any(a.is_image for a in attachments) and not catalog.accepts_images(model):
        raise text_only(model)


def text_only(model: str) -> ProtocolError:
    """The refusal of images for a model that does not read them."""
    return ProtocolError(
        "model_text_only",
        _("%(model)s does not read images. Choose a model that does, or remove the images.")
        % {"model": model},
    )


def link(message: Message, attachments: list[Attachment]) -> None:
    """Make `attachments` (from pending_for(), in the post's transaction) the message's.

    The message was created with attachment_count = len(attachments)."""
    if not attachments:
        return
    for position, attachment in enumerate(attachments):
        attachment.message = message
        attachment.position = position
    Attachment.objects.bulk_update(attachments, ["message", "position"])
    message.known_attachments = attachments


# What describes a stored file (and its thumbnail): a copy names the same files and
# copies all of these. (A list written out in copy_to once left thumbnail_size behind, so
# an edit's copy counted its thumbnail as 0 bytes of the user's storage.)
DESCRIBING_FIELDS = (
    "kind",
    "name",
    "content_type",
    "size",
    "thumbnail_size",
    "width",
    "height",
    "text",
    "text_tokens",
    "pages",
    "sha256",
)


def copy_to(message: Message, originals: list[Attachment]) -> None:
    """Give `message` (an edited question) copies of `originals`' rows, in their order.

    The copies name the same stored files: nothing is written to the storage, and a file
    is deleted only when no row names it any more (attachment_models.delete_unreferenced).
    The message was created with attachment_count = len(originals)."""
    copies = [
        Attachment(
            user_id=a.user_id,
            message=message,
            file=a.file.name,
            thumbnail=a.thumbnail.name,
            position=position,
            **{field: getattr(a, field) for field in DESCRIBING_FIELDS},
        )
        for position, a in enumerate(originals)
    ]
    message.known_attachments = Attachment.objects.bulk_create(copies)


def load_for(messages: Iterable[Message]) -> None:
    """Read the attachments of every message shown (a thread, a branch, a snapshot's) in
    one query, none when no message has any: each then answers attachment_list() and
    as_event() without a query of its own."""
    wanting = {m.pk: m for m in messages if m.attachment_count and m.known_attachments is None}
    if not wanting:
        return
    found: dict[int, list[Attachment]] = {pk: [] for pk in wanting}
    for attachment in Attachment.objects.filter(message_id__in=list(wanting)):
        found[attachment.message_id or 0].append(attachment)
    for pk, message in wanting.items():
        message.known_attachments = found[pk]


def read(attachment: Attachment, *, thumbnail: bool = False) -> bytes:
    """The stored bytes of a file or its thumbnail (worker thread: storage may be S3)."""
    field = attachment.thumbnail if thumbnail and attachment.thumbnail else attachment.file
    with attachment_storage().open(field.name, "rb") as handle:
        data: bytes = handle.read()
    return data
