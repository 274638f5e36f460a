"""The server process's heartbeat (realtime.instances) and its sweep of answers left by
an instance whose heartbeat lapsed: they are ended as interrupted, with the text of their
last checkpoint, everywhere within about INSTANCE_HEARTBEAT_SECONDS x 4 of the death.
Every DEACTIVATED_CHECK_SECONDS it also closes the sockets of users deactivated without
the signal that does it at once, and every PURGE_CHECK_SECONDS (first at start-up) deletes
the temporary chats whose time is up, the uploads left on no message for
ATTACHMENT_PENDING_HOURS and the audit entries older than AUDIT_RETENTION_DAYS, and
rolls up the usage ledger's days just closed (catalog.rollup). Started by the launcher
(streaming.server) once daphne listens."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from audit import retention
from catalog import rollup
from conversations import attachment_purge, organise, recovery
from conversations.models import Message
from realtime import events, instances
from realtime.publish import close_sockets
from streaming import sockets_budget

log = logging.getLogger(__name__)

# How often a process looks for users deactivated without a signal among those with a
# socket open here (docs/security.md): their sockets close within this long.
DEACTIVATED_CHECK_SECONDS = 30
# How often a process deletes the temporary chats whose time is up: one indexed query when
# there are none. Every process does it; the deletes cannot clash (a row goes once).
PURGE_CHECK_SECONDS = 300


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
            if recovery.end_abandoned(message):
                ended += 1
    if ended:
        log.warning("Ended %d answer(s) of server process(es) that stopped beating.", ended)
    return ended


def purge_temporary() -> int:
    purged = organise.purge_temporary()
    if purged:
        log.info("Deleted %d temporary chat(s) whose time was up.", purged)
    return purged


def purge_pending_attachments() -> int:
    purged = attachment_purge.purge_pending()
    if purged:
        log.info("Deleted %d upload(s) left on no message.", purged)
    return purged


def warm_usage_rollup() -> int:
    """Roll up yesterday and the missing days before it (catalog.rollup), a few at a time:
    the dashboard's first view is fast too. One query once they are done."""
    return rollup.warm()


def purge_audit() -> int:
    purged = retention.purge()
    if purged:
        log.info("Deleted %d audit entr(ies) older than AUDIT_RETENTION_DAYS.", purged)
    return purged


# The running loop keeps only a weak reference to its tasks: this one is kept here.
_task: asyncio.Task[None] | None = None


def start(loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
    """Start beating on `loop` (once per process)."""
    global _task
    if _task is None or _task.done():
        _task = loop.create_task(run(), name="heartbeat")
    return _task


def close_deactivated_sockets() -> int:
    """Close the sockets this process holds for users no longer active, however they were
    deactivated (a QuerySet.update() or a script sends no signal): one query. How many
    users' sockets were closed."""
    open_users = sockets_budget.open_users()
    if not open_users:
        return 0
    gone = list(
        get_user_model()
        .objects.filter(pk__in=open_users, is_active=False)
        .values_list("pk", flat=True)
    )
    for user_id in gone:
        close_sockets(events.user_group(user_id), events.CLOSE_SIGNED_OUT)
    return len(gone)


async def run() -> None:
    """Beat and sweep every INSTANCE_HEARTBEAT_SECONDS, look for deactivated users'
    sockets every DEACTIVATED_CHECK_SECONDS and purge expired temporary chats and audit
    entries every PURGE_CHECK_SECONDS (both at once at start-up), for the life of the process."""
    beats = 0
    every = max(1, round(DEACTIVATED_CHECK_SECONDS / settings.INSTANCE_HEARTBEAT_SECONDS))
    purge_every = max(1, round(PURGE_CHECK_SECONDS / settings.INSTANCE_HEARTBEAT_SECONDS))
    while True:
        try:
            await database_sync_to_async(beat_and_sweep)()
            if beats % every == 0:
                await database_sync_to_async(close_deactivated_sockets)()
            if beats % purge_every == 0:
                await database_sync_to_async(purge_temporary)()
                await database_sync_to_async(purge_pending_attachments)()
                await database_sync_to_async(purge_audit)()
                await database_sync_to_async(warm_usage_rollup)()
        except Exception as exc:  # the cache or the database away: try again next beat
            log.warning("Heartbeat failed: %r", exc)
        beats += 1
        await asyncio.sleep(settings.INSTANCE_HEARTBEAT_SECONDS)
