"""A JSON WebSocket consumer whose channel-layer events are read by a loop of their own.

channels' AsyncConsumer waits on the socket and the channel layer together
(asyncio.wait) and makes a new Task for the next channel-layer receive after every
message: for a socket, every delta frame cost a Task and about four task steps. Every
event the channel layer brings this consumer only sends (frames, closes), so one task
reads and handles them as they come; the socket's own messages go through channels'
loop as before, and a frame never waits for the handler of a socket message (a post's
database trip) to return.

Since both run at once, a frame may arrive before connect() has accepted the socket:
it is held (hold()) and sent after the accept, in order (release()).

Where the channel layer can hand a message over in the sender's task
(streaming.layers.EmbeddedChannelLayer.attach), the socket takes it there: a delta frame
then goes from the answer's task to the socket's transport without waking the socket's
own task. One message is handled at a time either way (`busy`): while one is, the next
is queued and read by the socket's task, which waits for a direct one to finish first.

Pinned: channels' AsyncConsumer.__call__ and dispatch (channels 4.x), whose behaviour
tests/streaming/test_socketbase.py checks against channels' own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch

from chatweb import logs

log = logging.getLogger(__name__)


class EventLoopSocket(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    # Frames the channel layer brings before the accept; None once accepted (release()).
    held: list[Any] | None = None
    # A channel-layer message is being handled (by _channel_events or take()).
    busy = False
    _idle: asyncio.Future[None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """channels' AsyncConsumer.__call__, with the channel layer read by _channel_events."""
        self.scope = scope
        # The socket's log lines, and the answers it starts, carry its handshake's id.
        logs.request_id.set(logs.from_scope_headers(scope.get("headers", ())))
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        events_in: asyncio.Task[None] | None = None
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            events_in = asyncio.create_task(self._channel_events())
            attach = getattr(self.channel_layer, "attach", None)
            if attach is not None:
                attach(self.channel_name, self)
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass
        finally:
            detach = getattr(self.channel_layer, "detach", None)
            if detach is not None and self.channel_layer is not None:
                detach(self.channel_name)
            if events_in is not None:
                events_in.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await events_in

    async def _channel_events(self) -> None:
        while True:
            message = await self.channel_receive()
            while self.busy:  # a message taken directly is still being handled
                self._idle = asyncio.get_running_loop().create_future()
                await self._idle
            await self._handle(message)

    def can_take(self) -> bool:
        """The channel layer may hand a message over in its sender's task (not while
        another is being handled)."""
        return not self.busy

    async def take(self, message: dict[str, Any]) -> None:
        await self._handle(message)

    async def _handle(self, message: dict[str, Any]) -> None:
        self.busy = True
        try:
            await self.dispatch(message)
        except Exception:
            log.exception("Socket %s: event %s not handled", self.channel_name, message.get("type"))
        finally:
            self.busy = False
            idle, self._idle = self._idle, None
            if idle is not None and not idle.done():
                idle.set_result(None)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """channels' dispatch, without its database-thread hop before every message.

        channels (4.2+) runs close_old_connections in the database thread before every
        message it dispatches: for a socket that is every delta frame, each queued behind
        the process's database work (py-spy: 8 % of the process at 50 concurrent). That
        hop is for handlers that use the async ORM; this consumer's database work all goes
        through database_sync_to_async, which closes old connections itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """channels' websocket_disconnect without the same hop (see dispatch)."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    # --- Frames that arrive before the accept ----------------------------------------------

    def hold(self) -> None:
        """From now until release(), frames are held (send_or_hold)."""
        self.held = []

    async def send_or_hold(self, frame: Any) -> None:
        if self.held is not None:
            self.held.append(frame)
            return
        await self.send_json(frame)

    async def release(self, *, still_open: Any) -> None:
        """Send the held frames in order (while `still_open()`), then send directly.

        Nothing awaits between the last pop and `held = None`, so a frame arriving during
        the sends joins the end of the queue."""
        while self.held and still_open():
            await self.send_json(self.held.pop(0))
        self.held = None
