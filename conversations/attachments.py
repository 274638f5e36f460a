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
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.dispatch import Signal
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from catalog import tokens
from conversations import attachment_files
from conversations.attachment_models import Attachment, attachment_storage
from realtime.codes import ProtocolError

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


def _save_files(user_id: int, processed: attachment_files.Processed) -> list[str]:
    """The bytes written to the storage under new names (worker thread): [file, thumb?]."""
    storage = attachment_storage()
    stem = f"u{user_id}/{uuid.uuid4().hex}"
    names = [storage.save(f"{stem}.{processed.extension}", ContentFile(processed.data))]
    if processed.thumbnail:
        names.append(
            storage.save(
                f"{stem}-thumb.{processed.thumbnail_extension}", ContentFile(processed.thumbnail)
            )
        )
    return names


def _delete_files(names: list[str]) -> None:
    storage = attachment_storage()
    for name in names:
        storage.delete(name)


def _create(user_id: int, processed: attachment_files.Processed, names: list[str]) -> Attachment:
    with transaction.atomic():
        return Attachment.objects.create(
            user_id=user_id,
            kind=processed.kind,
            name=processed.name,
            content_type=processed.content_type,
            size=len(processed.data),
            file=names[0],
            thumbnail=names[1] if len(names) > 1 else "",
            width=processed.width,
            height=processed.height,
            text=processed.text,
            text_tokens=processed.text_tokens,
            pages=processed.pages,
            sha256=processed.sha256,
        )


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
    names = await sync_to_async(_save_files, thread_sensitive=False)(user.pk, processed)
    try:
        attachment: Attachment = await database_sync_to_async(_create)(user.pk, processed, names)
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


def read(attachment: Attachment, *, thumbnail: bool = False) -> bytes:
    """The stored bytes of a file or its thumbnail (worker thread: storage may be S3)."""
    field = attachment.thumbnail if thumbnail and attachment.thumbnail else attachment.file
    with attachment_storage().open(field.name, "rb") as handle:
        data: bytes = handle.read()
    return data
