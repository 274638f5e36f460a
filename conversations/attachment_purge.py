"""Attachments no message will take (#21): uploads left pending past
ATTACHMENT_PENDING_HOURS, and stored files no row names (a process that died between
storing an upload's bytes and making its row, an import that failed half-way)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from catalog import clock
from conversations.attachment_models import Attachment, attachment_storage

if TYPE_CHECKING:
    from django.core.files.storage import Storage


def _stored_names(storage: Storage, folder: str = "") -> Iterator[str]:
    """Every file in the attachments storage, walked folder by folder."""
    folders, files = storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}" if folder else name
    for sub in folders:
        yield from _stored_names(storage, f"{folder}/{sub}" if folder else sub)


def purge_pending(*, now: dt.datetime | None = None) -> int:
    """Delete the uploads left on no message for ATTACHMENT_PENDING_HOURS (their files go
    after the commit, with their rows); how many. One query when there are none."""
    cutoff = (now or clock.now()) - dt.timedelta(hours=settings.ATTACHMENT_PENDING_HOURS)
    with transaction.atomic():
        doomed = list(Attachment.objects.pending().filter(created_at__lt=cutoff))
        for attachment in doomed:
            attachment.delete()
    return len(doomed)


def purge_orphans(*, now: dt.datetime | None = None) -> tuple[int, int]:
    """Delete the pending uploads gone stale (purge_pending), then every stored file no row
    names and written before the same cutoff: an upload's bytes are stored a moment
    before its row is made, so a newer file may be one on its way. Returns (uploads,
    files) deleted. Lists the whole storage: run by `manage.py purge_attachments`."""
    now = now or clock.now()
    uploads = purge_pending(now=now)
    cutoff = now - dt.timedelta(hours=settings.ATTACHMENT_PENDING_HOURS)
    storage = attachment_storage()
    files = 0
    batch: list[str] = []

    def sweep() -> int:
        named: set[str] = set()
        for file, thumbnail in Attachment.objects.filter(
            Q(file__in=batch) | Q(thumbnail__in=batch)
        ).values_list("file", "thumbnail"):
            named.update((file, thumbnail))
        gone = 0
        for name in batch:
            if name not in named and storage.get_modified_time(name) < cutoff:
                storage.delete(name)
                gone += 1
        batch.clear()
        return gone

    for name in _stored_names(storage):
        batch.append(name)
        if len(batch) >= 500:
            files += sweep()
    files += sweep()
    return uploads, files
