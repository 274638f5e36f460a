"""A running answer's control channel: Stop and snapshot requests from any tab on any
instance reach it here (the conversation's control group), until it ends."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from realtime import events

if TYPE_CHECKING:
    from streaming.generation import Generation

log = logging.getLogger("streaming.generation")


async def listen(answer: Generation) -> None:
    """Answer Stop and snapshot requests sent to the conversation's control group.

    A channel-layer failure (Redis down) pauses it, never ends it or the answer.
    """
    delay = 0.1
    while True:
        try:
            event = await answer.layer.receive(answer.channel)
        except Exception as exc:
            log.warning("Answer %s: channel layer receive failed: %r", answer.message_id, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        delay = 0.1
        if event["type"] == "generation.exit":
            return
        if event.get("message_id") not in (None, answer.message_id):
            continue
        if event["type"] == "generation.stop":
            answer.stop()
        elif event["type"] == "generation.snapshot":
            frame = events.snapshot_frame(answer.snapshot())
            try:
                await answer.layer.send(event["reply_channel"], events.forward(frame))
            except Exception as exc:
                log.warning("Answer %s: snapshot not sent: %r", answer.message_id, exc)


async def stop_listening(answer: Generation, listener: asyncio.Task[None]) -> None:
    """End the listener by a message, not by cancelling it.

    With channels-redis, the one receive() in progress reads for every local channel
    of the process; cancelling it can drop a frame it already took for a socket
    (such as the `done` just published). So the listener is told to return (and
    cancelled only if the channel layer cannot carry the message).
    """
    try:
        await answer.layer.send(answer.channel, events.exit_event())
        await asyncio.wait_for(asyncio.shield(listener), timeout=5)
    except TimeoutError:
        listener.cancel()
    except Exception as exc:
        log.warning("Answer %s: channel layer error at the end: %r", answer.message_id, exc)
        listener.cancel()
