"""Answers whose process is gone: found (at start-up, by the heartbeat, on a reader's
request) and ended as interrupted, keeping their checkpointed text."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from conversations import markdown
from conversations.models import Message
from realtime import events, instances
from realtime.publish import publish

log = logging.getLogger(__name__)


def end_abandoned(message: Message) -> bool:
    """Mark an answer whose process is gone as interrupted, keeping its checkpointed text.

    Returns False if the answer was no longer live (someone else ended it first).
    """
    updated = Message.objects.end_interrupted(message, html=markdown.render(message.content))
    if updated:
        message.refresh_from_db()
        publish(message.conversation_id, events.done_frame(message.as_event()))
    return bool(updated)


def is_abandoned(message: Message, *, running_here: bool) -> bool:
    """A live answer whose process is gone.

    Streaming under this instance's name but not running here: this process restarted.
    Otherwise: its instance's heartbeat lapsed and it has not checkpointed since, or its
    process stopped checkpointing (it heartbeats while the model is silent) for
    STREAM_STALE_SECONDS.
    """
    if not message.is_live:
        return False
    if (
        message.status == Message.Status.STREAMING
        and message.worker == settings.INSTANCE_ID
        and not running_here
    ):
        return True
    quiet = timezone.now() - message.updated_at
    if quiet > dt.timedelta(seconds=instances.ttl()) and not instances.is_alive(message.worker):
        return True  # its instance stopped beating (realtime.instances)
    return quiet > dt.timedelta(seconds=settings.STREAM_STALE_SECONDS)


def recover_interrupted(*, instance_id: str) -> int:
    """At start-up: end the answers this instance left live, and any gone stale elsewhere."""
    stale_before = timezone.now() - dt.timedelta(seconds=settings.STREAM_STALE_SECONDS)
    candidates = Message.objects.filter(status__in=Message.LIVE).filter(
        Q(worker=instance_id) | Q(updated_at__lt=stale_before)
    )
    count = 0
    for message in candidates:
        if end_abandoned(message):
            count += 1
    if count:
        log.warning("Marked %d answer(s) left streaming by a stopped server as interrupted.", count)
    return count
