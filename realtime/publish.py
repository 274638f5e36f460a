"""Publishing after commit: frames to a conversation's sockets or to all of a user's,
closes to a user's or a session's sockets, stops to a conversation's running answers.

Every send waits for the transaction in progress to commit (transaction.on_commit), so
nobody hears of a row that could still be rolled back. Sent from a worker thread, each
send is an async_to_sync round trip to the event loop; inside a held_frames() block the
frames are kept instead, for the async caller to send from its loop (streaming.answers).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from realtime import events

# Frames held for an async caller to send: (group, event), in order.
HeldFrames = list[tuple[str, events.ForwardEvent]]
# Where publish() puts the frames of this thread's held_frames() block, if one is open.
_held = threading.local()


@contextlib.contextmanager
def held_frames() -> Iterator[HeldFrames]:
    """Frames published (after commit) inside this block are kept, not sent: the caller
    sends them from its event loop. Sent from here, each would be an async_to_sync call:
    a round trip from the database thread to the loop."""
    outer = getattr(_held, "frames", None)
    frames: HeldFrames = []
    _held.frames = frames
    try:
        yield frames
    finally:
        _held.frames = outer


def publish(conversation_id: int, frame: events.ServerFrame) -> None:
    """Send a frame to every socket on the conversation once the transaction commits."""
    _publish_to(events.conversation_group(conversation_id), frame)


def publish_to_user(user_id: int, frame: events.ServerFrame) -> None:
    """Send a frame to every socket of the user (any conversation, any instance) once the
    transaction commits: what every tab's sidebar shows."""
    _publish_to(events.user_group(user_id), frame)


def _publish_to(group: str, frame: events.ServerFrame) -> None:
    def send() -> None:
        message = (group, events.forward(frame))
        held: HeldFrames | None = getattr(_held, "frames", None)
        if held is not None:
            held.append(message)
            return
        _group_send(*message)

    transaction.on_commit(send)


def close_sockets(group: str, code: int) -> None:
    """Close every socket in a user's or a session's group, on every instance, after commit."""
    transaction.on_commit(lambda: _group_send(group, events.close_event(code)))


def stop_answers(conversation_ids: list[int]) -> None:
    """Stop whatever answer runs in these conversations (any instance), after commit:
    no more tokens are paid for once they are deleted."""

    def send() -> None:
        for conversation_id in conversation_ids:
            _group_send(events.control_group(conversation_id), events.stop_event(None))

    transaction.on_commit(send)


def _group_send(group: str, event: events.ChannelEvent) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, event)
