"""The server process's heartbeat (realtime.instances) and its sweep of answers left by
an instance whose heartbeat lapsed: they are ended as interrupted, with the text of their
last checkpoint, everywhere within about INSTANCE_HEARTBEAT_SECONDS x 4 of the death.
Started by the launcher (streaming.server) once daphne listens."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from conversations import actions
from conversations.models import Message
from realtime import instances

log = logging.getLogger(__name__)


def beat_and_sweep() -> int:
    """One beat, then end the answers of instances that stopped beating; how many."""
    instances.beat()
    stale_before = timezone.now() - dt.timedelta(seconds=instances.ttl())
    workers = set(
        Message.objects.filter(status__in=Message.LIVE, updated_at__lt=stale_before)
        .exclude(worker=settings.INSTANCE_ID)
        .values_list("worker", flat=True)
    )
    ended = 0
    for worker in sorted(workers):
        if instances.is_alive(worker):
            continue
        for message in Message.objects.filter(
            status__in=Message.LIVE, worker=worker, updated_at__lt=stale_before
        ):
            if actions.end_abandoned(message):
                ended += 1
    if ended:
        log.warning("Ended %d answer(s) of server process(es) that stopped beating.", ended)
    return ended


# The running loop keeps only a weak reference to its tasks: this one is kept here.
_task: asyncio.Task[None] | None = None


def start(loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
    """Start beating on `loop` (once per process)."""
    global _task
    if _task is None or _task.done():
        _task = loop.create_task(run(), name="heartbeat")
    return _task


async def run() -> None:
    """Beat and sweep every INSTANCE_HEARTBEAT_SECONDS, for the life of the process."""
    while True:
        try:
            await database_sync_to_async(beat_and_sweep)()
        except Exception as exc:  # the cache or the database away: try again next beat
            log.warning("Heartbeat failed: %r", exc)
        await asyncio.sleep(settings.INSTANCE_HEARTBEAT_SECONDS)
