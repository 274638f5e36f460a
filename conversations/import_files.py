"""Import, the files of a Chatweb export (#21): each checked and stored as an upload is,
before any row is written, then linked to its imported message.

A file comes back only if its bytes match the SHA-256 the export gives and
conversations.attachment_files.process accepts them (a hostile file in an import is
refused as an upload is, with the same message). What is stored is what process() makes:
a document's bytes and a PNG come back byte for byte; a JPEG is re-encoded again.
A refused import stores nothing: the files stored before the refusal are deleted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from catalog import tokens
from conversations import attachment_files
from conversations import attachments as attaching
from conversations.attachment_models import Attachment, delete_unreferenced
from conversations.import_plans import ImportRefused, PlannedAttachment, PlannedConversation
from realtime.codes import ProtocolError

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

BATCH = 50


@dataclass
class StoredFile:
    """A checked file written to the storage, to be linked to its message: the plan's
    index, the message's key in the file, its place among the message's files."""

    conversation: int
    message: object
    position: int
    size: int
    thumbnail_size: int
    processed: attachment_files.Processed  # its bytes dropped once stored
    names: list[str]


def _checked(planned: PlannedAttachment) -> attachment_files.Processed:
    name = attachment_files.clean_name(planned.name)
    # A base64 text four thirds the size of its bytes: refused before it is decoded.
    if len(planned.data) > (settings.ATTACHMENT_MAX_BYTES + 2) // 3 * 4 + 4:
        raise ImportRefused(attachment_files.too_large(name, len(planned.data) * 3 // 4).message)
    try:
        data = base64.b64decode(planned.data, validate=True)
    except (binascii.Error, ValueError):
        raise ImportRefused(_("The data of “%(name)s” is not base64.") % {"name": name}) from None
    if hashlib.sha256(data).hexdigest() != planned.sha256:
        raise ImportRefused(
            _("“%(name)s” is damaged: its bytes do not match its SHA-256.") % {"name": name}
        )
    try:
        processed = attachment_files.process(name, data)
    except ProtocolError as exc:
        raise ImportRefused(exc.message) from exc
    if processed.text:
        processed.text_tokens = tokens.count(processed.text)
    return processed


def store(user: AbstractBaseUser, plans: list[PlannedConversation]) -> list[StoredFile]:
    """Check and store every file of the plans, one at a time; refused (and every file
    stored so far deleted) at the first one refused."""
    stored: list[StoredFile] = []
    adding = 0  # the bytes this import stores, against the user's storage quota
    try:
        for i, plan in enumerate(plans):
            for message in plan.messages:
                for position, planned in enumerate(message.attachments):
                    processed = _checked(planned)
                    size, thumbnail_size = len(processed.data), len(processed.thumbnail)
                    adding += size + thumbnail_size
                    try:
                        attaching.check_room(user, int(user.pk), processed.name, adding)
                    except ProtocolError as exc:
                        raise ImportRefused(exc.message) from exc
                    names = attaching.save_files(int(user.pk), processed)
                    processed.data = processed.thumbnail = b""
                    stored.append(
                        StoredFile(i, message.key, position, size, thumbnail_size, processed, names)
                    )
    except BaseException:
        discard(stored)
        raise
    return stored


def discard(stored: list[StoredFile]) -> None:
    """Delete the stored files no row names (an import that failed after storing them)."""
    delete_unreferenced([name for s in stored for name in s.names])


def link(
    user: AbstractBaseUser, stored: list[StoredFile], saved: dict[tuple[int, object], int]
) -> None:
    """The rows of the stored files, on their imported messages (`saved`: the plan's index
    and the message's key -> its id), BATCH rows per short transaction."""
    rows = [
        Attachment(
            user_id=user.pk,
            message_id=saved[s.conversation, s.message],
            kind=s.processed.kind,
            name=s.processed.name,
            content_type=s.processed.content_type,
            size=s.size,
            thumbnail_size=s.thumbnail_size if len(s.names) > 1 else 0,
            file=s.names[0],
            thumbnail=s.names[1] if len(s.names) > 1 else "",
            width=s.processed.width,
            height=s.processed.height,
            text=s.processed.text,
            text_tokens=s.processed.text_tokens,
            pages=s.processed.pages,
            sha256=s.processed.sha256,
            position=s.position,
        )
        for s in stored
    ]
    for start in range(0, len(rows), BATCH):
        with transaction.atomic():
            Attachment.objects.bulk_create(rows[start : start + BATCH])
