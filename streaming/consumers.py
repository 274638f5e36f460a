"""The conversation socket: a thin translator between frames and actions.

It authorises in connect, joins the conversation's group, turns frames into action
calls and forwards group events. It never awaits an answer: generations run as
process-owned tasks (streaming.generation), so Stop and disconnect are never stuck
behind one.

Everything it says is in the socket user's language (chatweb.i18n.language_for_scope:
their setting, else the page's cookie or Accept-Language), chosen at connect: error
frames are written under it and failed answers' texts rendered for it at send time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from chatweb.i18n import language_for_scope
from conversations import actions, errors
from conversations.models import Conversation, Message
from streaming import events, generation, sockets_budget

log = logging.getLogger(__name__)

# How long a `sync` waits for the answer's process to reply before another may be sent
# on its behalf (the client asks again after 4 s: static/js/socket.js).
SNAPSHOT_WAIT_SECONDS = 3.0


class ConversationConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    conversation_id: int
    groups_joined: tuple[str, ...] = ()
    closing = False
    language = settings.LANGUAGE_CODE
    # Frames the channel layer brings between joining the groups and the accept (connect
    # is still reading the title): sent after the title, in order. None once accepted.
    held: list[events.ServerFrame] | None = None
    # A socket.close that came before the accept: connect refuses with its code instead.
    close_before_accept: int | None = None

    async def connect(self) -> None:
        # Refusals accept first, then close with the code: a refused handshake reaches the
        # browser as 1006 only, and it would keep reconnecting.
        user = self.scope["user"]
        if not user.is_authenticated:
            await self._refuse(events.CLOSE_SIGNED_OUT)
            return
        if not sockets_budget.admit(self, user.pk):  # WS_MAX_SOCKETS_PER_USER
            await self._refuse(events.CLOSE_TOO_MANY_SOCKETS)
            return
        self.conversation_id = int(self.scope["url_route"]["kwargs"]["conversation_id"])
        # Groups first, then one read: the title as it is now must be read after joining
        # (a title made while the page loaded was published before this socket listened).
        # Frames that reach a refused socket meanwhile are dropped (self.closing).
        groups = [events.conversation_group(self.conversation_id), events.user_group(user.pk)]
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if session_key:
            groups.append(events.session_group(session_key))
        self.held = []
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = tuple(groups)
        opened = await database_sync_to_async(self._open)()
        if opened is None:
            await self._refuse(events.CLOSE_NOT_FOUND)
            for group in self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined = ()
            return
        if self.close_before_accept is not None:
            # Signed out (or the like) while this socket was being opened.
            await self._refuse(self.close_before_accept)
            return
        title, self.language = opened
        self._init_limits()
        await self.accept()
        await self.send_json(events.title_frame(self.conversation_id, title))
        # The events loop runs beside this handler (see __call__): what it brought before
        # the accept could not be sent then. Nothing awaits between the last pop and
        # `held = None`, so a frame arriving during the sends joins the end of the queue.
        while self.held and not self.closing:
            await self.send_json(self.held.pop(0))
        self.held = None
        if self.close_before_accept is not None:  # came while the title was being sent
            await self.close(code=self.close_before_accept)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """channels' AsyncConsumer.__call__, with the channel layer read by a loop of its own.

        channels waits on the socket and the channel layer together (asyncio.wait) and
        makes a new Task for the next channel-layer receive after every message: for a
        socket, every delta frame cost a Task and about four task steps. Every event the
        channel layer brings this consumer only sends (chat.frame, socket.close), so one
        task reads and handles them as they come; the socket's own messages go through
        channels' loop as before. A frame no longer waits either for the handler of a
        socket message (a post's database trip) to return.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        events_in: asyncio.Task[None] | None = None
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            events_in = asyncio.create_task(self._channel_events())
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass
        finally:
            if events_in is not None:
                events_in.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await events_in

    async def _channel_events(self) -> None:
        while True:
            message = await self.channel_receive()
            try:
                await self.dispatch(message)
            except Exception:
                log.exception(
                    "Socket of conversation %s: event %s not handled",
                    getattr(self, "conversation_id", None), message.get("type"),
                )  # fmt: skip

    async def dispatch(self, message: dict[str, Any]) -> None:
        """channels' dispatch, without its database-thread hop before every message.

        channels (4.2+) runs close_old_connections in the database thread before every
        message it dispatches: for a socket that is every delta frame, so each frame of
        each answer queued behind the process's database work (posts, checkpoints) and,
        with health checks on, made the next query on that thread a `SELECT 1` first
        (py-spy: 8 % of the process at 50 concurrent); and a chat's connect, its frames
        and its disconnect each waited for a trip that read nothing. That hop is for
        handlers that use the async ORM; this consumer's database work all goes through
        database_sync_to_async, which closes old connections itself, before and after.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """channels' websocket_disconnect without the same hop (see dispatch)."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def _refuse(self, code: int) -> None:
        self.closing = True
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        sockets_budget.release(self)
        if self._deferred_sync is not None:
            self._deferred_sync.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- Limits (docs/security.md) ---------------------------------------------------------

    _deferred_sync: asyncio.Task[None] | None = None

    def _init_limits(self) -> None:
        rate = settings.WS_MAX_FRAMES_PER_SECOND
        self.frame_rate = float(rate)
        self.frame_burst = float(2 * rate)
        self.frame_tokens = self.frame_burst
        self.frame_refill_at = time.monotonic()
        self.frames_refused = 0
        self.sync_interval = settings.WS_SYNC_MIN_INTERVAL_MS / 1000
        self.last_sync_at = -1e9
        self.snapshot_due_until = 0.0

    def _take_frame_token(self) -> bool:
        """A token bucket: WS_MAX_FRAMES_PER_SECOND, bursts of twice that."""
        if self.frame_rate <= 0:
            return True
        now = time.monotonic()
        self.frame_tokens = min(
            self.frame_burst, self.frame_tokens + (now - self.frame_refill_at) * self.frame_rate
        )
        self.frame_refill_at = now
        if self.frame_tokens >= 1:
            self.frame_tokens -= 1
            self.frames_refused = 0
            return True
        self.frames_refused += 1
        return False

    async def _refuse_frame(self) -> None:
        """One error frame per run of refused frames; a second's worth more closes the socket."""
        if self.frames_refused == 1:
            await self.send_json(
                events.error_frame(
                    "too_many_frames",
                    _("Too many frames: at most %(count)s a second. This one was ignored.")
                    % {"count": settings.WS_MAX_FRAMES_PER_SECOND},
                )
            )
        elif self.frames_refused > self.frame_rate:
            log.warning("Closing a socket that kept sending over the frame rate limit.")
            self.closing = True
            await self.close(code=events.CLOSE_TOO_MANY_FRAMES)

    # --- Frames in ------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        with translation.override(self.language):
            await self._receive(text_data)

    async def _receive(self, text_data: str | None) -> None:
        if self.closing:
            # Signed out, deactivated or over a limit: the close is on its way.
            return
        if not self._take_frame_token():
            await self._refuse_frame()
            return
        try:
            content = json.loads(text_data or "")
        except (ValueError, RecursionError):
            # RecursionError: JSON nested deeper than the parser's recursion limit; an
            # odd frame gets the bad_frame error like any other, never a 1011 close.
            content = None
        kind = content.get("type") if isinstance(content, dict) else None
        if kind not in events.CLIENT_FRAME_TYPES:
            await self.send_json(
                events.error_frame(
                    "bad_frame",
                    _("Frames are JSON objects whose type is one of: %(types)s.")
                    % {"types": ", ".join(events.CLIENT_FRAME_TYPES)},
                    kind if isinstance(kind, str) else None,
                )
            )
            return
        assert isinstance(content, dict)
        try:
            await getattr(self, f"on_{kind}")(content)
        except actions.ActionError as exc:
            await self.send_json(events.error_frame(exc.code, exc.message, kind))

    async def on_send(self, content: dict[str, Any]) -> None:
        await generation.post_and_start(self._post, content.get("text"), content.get("model"))

    async def on_regenerate(self, content: dict[str, Any]) -> None:
        await generation.post_and_start(
            self._regenerate, content.get("message_id"), content.get("model")
        )

    async def on_edit(self, content: dict[str, Any]) -> None:
        await generation.post_and_start(
            self._edit, content.get("message_id"), content.get("text"), content.get("model")
        )

    async def on_switch(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(self._switch)(content.get("message_id"))

    async def on_delete(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(self._delete)(content.get("message_id"))

    async def on_stop(self, content: dict[str, Any]) -> None:
        live = await database_sync_to_async(self._live_answer)()
        if live is None:
            raise actions.ActionError("not_streaming", _("Nothing is being written right now."))
        await self.channel_layer.group_send(
            events.control_group(self.conversation_id), events.stop_event(live.pk)
        )

    async def on_sync(self, content: dict[str, Any]) -> None:
        """Coalesced: one snapshot outstanding at a time, at most one per WS_SYNC_MIN_INTERVAL_MS.

        A snapshot is the whole text so far, so a client that asks faster than it reads
        would make the server buffer one per request.
        """
        now = time.monotonic()
        if now < self.snapshot_due_until or self._deferred_sync is not None:
            return  # The snapshot on its way answers this request too.
        wait = self.last_sync_at + self.sync_interval - now
        if wait > 0:
            self._deferred_sync = asyncio.create_task(self._sync_later(wait))
            return
        await self._request_snapshot()

    async def _sync_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._deferred_sync = None
        if self.closing:
            return
        with translation.override(self.language):
            try:
                await self._request_snapshot()
            except actions.ActionError as exc:
                await self.send_json(events.error_frame(exc.code, exc.message, "sync"))

    async def _request_snapshot(self) -> None:
        self.last_sync_at = time.monotonic()
        last = await database_sync_to_async(self._last_answer)()
        if last is not None and last.is_live:
            # Only the process running the answer knows the text not yet checkpointed.
            self.snapshot_due_until = self.last_sync_at + SNAPSHOT_WAIT_SECONDS
            await self.channel_layer.group_send(
                events.control_group(self.conversation_id),
                events.snapshot_request(last.pk, self.channel_name),
            )
            return
        await self.send_json(events.snapshot_frame(last.as_event() if last else None))

    async def send_json(self, content: Any, close: bool = False) -> None:
        """Every frame out: a failed answer's text rendered in this socket's language."""
        message = content.get("message") if isinstance(content, dict) else None
        if isinstance(message, dict) and (message.get("error_code") or message.get("error")):
            with translation.override(self.language):
                content = {**content, "message": errors.localize_message(message)}
        await super().send_json(content, close)

    # --- Group events out -----------------------------------------------------------------

    async def chat_frame(self, event: events.ForwardEvent) -> None:
        if self.closing:
            return
        if self.held is not None:  # not accepted yet: connect sends it after the title
            self.held.append(event["frame"])
            return
        if event["frame"]["type"] == "snapshot":
            self.snapshot_due_until = 0.0
        await self.send_json(event["frame"])

    async def socket_close(self, event: events.CloseEvent) -> None:
        """Signed out, deactivated, or the password changed: close at once."""
        self.closing = True
        if self.held is not None:
            # Not accepted yet: a close now would refuse the handshake (the browser sees
            # 1006 and reconnects); connect accepts, then closes with this code.
            self.close_before_accept = event["code"]
            return
        await self.close(code=event["code"])

    # --- Database steps (worker thread) ---------------------------------------------------

    def _open(self) -> tuple[str, str] | None:
        """The conversation's title and the socket's language, if the user owns it: one
        query (the owner's language setting comes joined)."""
        row = (
            Conversation.objects.for_user(self.scope["user"])
            .filter(pk=self.conversation_id)
            .values_list("title", "user__chat_settings__language")
            .first()
        )
        if row is None:
            return None
        title, setting = row
        return title, language_for_scope(self.scope, setting or "")

    def _conversation(self) -> Conversation:
        try:
            return Conversation.objects.get(pk=self.conversation_id)
        except Conversation.DoesNotExist:
            # Deleted from another tab while this one stayed open.
            raise actions.ActionError("not_found", _("This conversation was deleted.")) from None

    def _post(self, text: object, model: object) -> Message:
        # The action reads the row itself (locked) and refuses a deleted conversation:
        # reading it here first would be one more query per message.
        conversation = Conversation(pk=self.conversation_id)
        return actions.post_user_message(conversation=conversation, text=text, model=model)

    def _regenerate(self, message_id: object, model: object) -> Message:
        return actions.regenerate(
            conversation=self._conversation(), message_id=message_id, model=model
        )

    def _edit(self, message_id: object, text: object, model: object) -> Message:
        return actions.edit_message(
            conversation=self._conversation(), message_id=message_id, text=text, model=model
        )

    def _switch(self, message_id: object) -> None:
        actions.switch_branch(conversation=self._conversation(), message_id=message_id)

    def _delete(self, message_id: object) -> None:
        actions.delete_message(conversation=self._conversation(), message_id=message_id)

    def _live_answer(self) -> Message | None:
        live = self._unless_abandoned(self._conversation().live_answer())
        return live if live is not None and live.is_live else None

    def _last_answer(self) -> Message | None:
        """The last answer on the active path."""
        path = self._conversation().active_path()
        last = next((m for m in reversed(path) if m.role == Message.Role.ASSISTANT), None)
        return self._unless_abandoned(last)

    @staticmethod
    def _unless_abandoned(message: Message | None) -> Message | None:
        """End the answer first if its process is gone; return it as it now stands."""
        running_here = message is not None and generation.registry.is_running(message.pk)
        if message is not None and actions.is_abandoned(message, running_here=running_here):
            actions.end_abandoned(message)
            message.refresh_from_db()
        return message
