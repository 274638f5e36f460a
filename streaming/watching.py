"""Watching one answer (streaming.answers.watch): its snapshot, then each later delta
exactly once, then its end, on any instance; and the end of an answer whose process is
gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer
from django.conf import settings
from django.utils.translation import gettext as _

from conversations import recovery
from conversations.actions import ActionError
from conversations.models import Message
from realtime import events
from realtime.events import MessageData
from streaming import generation
from streaming.registry import registry

# How long a snapshot request waits for the answer's process before asking again.
SNAPSHOT_WAIT_SECONDS = 3.0


class Watch:
    """watch()'s loop: the conversation's frames on `channel`, kept to one answer."""

    def __init__(self, layer: BaseChannelLayer, channel: str, message: Message) -> None:
        self.layer, self.channel, self.message = layer, channel, message
        self.last = 0  # the seq of the last delta given out

    async def __aiter__(self) -> AsyncIterator[events.ServerFrame]:
        snapshot = await self._snapshot()
        while snapshot is not None:
            if snapshot["status"] not in Message.LIVE:
                yield events.done_frame(snapshot)
                return
            yield events.snapshot_frame(snapshot)
            self.last = snapshot["seq"] or 0
            snapshot = None
            async for frame in self._frames():
                if frame["type"] == "done":
                    yield frame
                    return
                assert frame["type"] == "delta"
                if frame["seq"] <= self.last:
                    continue  # already in the snapshot
                if frame["seq"] > self.last + 1:  # a delta was lost: resync
                    snapshot = await self._snapshot()
                    break
                self.last = frame["seq"]
                yield frame

    async def _frames(self) -> AsyncIterator[events.DeltaFrame | events.DoneFrame]:
        """This answer's deltas and its done, as they arrive; its done from the database
        when it ended unseen (its process died, or a frame was lost)."""
        quiet = settings.STREAM_STALE_SECONDS
        while True:
            try:
                async with asyncio.timeout(quiet):
                    event = await self.layer.receive(self.channel)
            except TimeoutError:
                end = await database_sync_to_async(ended)(self.message)
                if end is not None:
                    yield events.done_frame(end)
                    return
                continue
            frame = event.get("frame") if event.get("type") == "chat.frame" else None
            if frame is None:
                continue
            if frame["type"] == "delta":
                if frame["message_id"] == self.message.pk:
                    yield frame
            elif frame["type"] == "done" and frame["message"]["id"] == self.message.pk:
                yield frame

    async def _snapshot(self) -> MessageData | None:
        """The answer as it stands: from its generation when it runs here, else asked of
        the process running it (any instance), else the database (an ended answer)."""
        running = registry.get(self.message.pk)
        if isinstance(running, generation.Generation):
            return running.snapshot() or self.message.as_event()
        while True:
            await self.layer.group_send(
                events.control_group(self.message.conversation_id),
                events.snapshot_request(self.message.pk, self.channel),
            )
            try:
                async with asyncio.timeout(SNAPSHOT_WAIT_SECONDS):
                    while True:
                        event = await self.layer.receive(self.channel)
                        frame = event.get("frame")
                        # Deltas before the snapshot are in it; a done ends the wait too.
                        if frame is not None and frame["type"] in ("snapshot", "done"):
                            found: MessageData | None = frame["message"]
                            if found is not None and found["id"] == self.message.pk:
                                return found
            except TimeoutError:
                end: MessageData | None = await database_sync_to_async(ended)(self.message)
                if end is not None:
                    return end


def ended(message: Message) -> MessageData | None:
    """The answer as stored, if it has ended (ending it first if its process is gone).
    Gone with its conversation: ActionError("not_found"), so a watcher ends instead of
    waiting for an end that cannot come."""
    current = Message.objects.filter(pk=message.pk).first()
    if current is None:
        raise ActionError("not_found", _("This conversation was deleted."))
    current = unless_abandoned(current)
    if current is None or current.is_live:
        return None
    return current.as_event()


def unless_abandoned(message: Message | None) -> Message | None:
    """End the answer first if its process is gone; return it as it now stands."""
    running_here = message is not None and registry.is_running(message.pk)
    if message is not None and recovery.is_abandoned(message, running_here=running_here):
        recovery.end_abandoned(message)
        message.refresh_from_db()
    return message
