"""The conversation socket: a thin translator between frames and the answer engine.

It authorises in connect, joins the conversation's group, turns frames into calls of
streaming.answers and forwards group events. It never awaits an answer: answers run as
process-owned tasks, so Stop and disconnect are never stuck behind one. How it reads the
channel layer is streaming.socketbase's; its limits are streaming.ratelimit's.

Everything it says is in the socket user's language (accounts.language.language_for_scope:
their setting, else the page's cookie or Accept-Language) and time zone (their setting,
else the server's), chosen at connect: error frames (a quota's reset time) are written
under them and failed answers' texts rendered for them at send time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.language import language_for_scope
from accounts.sockets import SocketSignIn
from accounts.timezones import zone_for_setting
from conversations import errors
from conversations.actions import ActionError
from conversations.models import Conversation
from realtime import events
from streaming import answers, sockets_budget
from streaming.ratelimit import SnapshotPacer, TokenBucket
from streaming.socketbase import EventLoopSocket

log = logging.getLogger(__name__)

# How long a `sync` waits for the answer's process to reply before another may be sent
# on its behalf (the client asks again after 4 s: static/js/socket.js).
SNAPSHOT_WAIT_SECONDS = answers.SNAPSHOT_WAIT_SECONDS


class ConversationConsumer(EventLoopSocket):
    conversation_id: int
    groups_joined: tuple[str, ...] = ()
    closing = False
    language = settings.LANGUAGE_CODE
    # The user's zone (accounts.timezones), read at connect; None: the server's.
    zone: Any = None
    frames: TokenBucket
    snapshots: SnapshotPacer
    # A socket.close that came before the accept: connect refuses with its code instead.
    close_before_accept: int | None = None

    @property
    def user(self) -> Any:
        return self.scope["user"]

    async def connect(self) -> None:
        # Refusals accept first, then close with the code: a refused handshake reaches the
        # browser as 1006 only, and it would keep reconnecting.
        sign_in: SocketSignIn | None = self.scope.get("sign_in")
        user_id = sign_in.user_id if sign_in is not None else None
        if sign_in is None or user_id is None:
            await self._refuse(events.CLOSE_SIGNED_OUT)
            return
        if not sockets_budget.admit(self, user_id):  # WS_MAX_SOCKETS_PER_USER
            await self._refuse(events.CLOSE_TOO_MANY_SOCKETS)
            return
        self.conversation_id = int(self.scope["url_route"]["kwargs"]["conversation_id"])
        # Groups first (the user's as the session claims it), then one read: the user, the
        # conversation and its title as they are now must be read after joining (a
        # password change, a sign-out or a title published before this socket listened
        # would be missed). Frames that reach a refused socket meanwhile are dropped
        # (self.closing).
        groups = [events.conversation_group(self.conversation_id), events.user_group(user_id)]
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if session_key:
            groups.append(events.session_group(session_key))
        self.hold()  # frames that arrive before the accept are sent after the title
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = tuple(groups)
        user, opened = await database_sync_to_async(self._open)(sign_in)
        if opened is None:
            code = events.CLOSE_NOT_FOUND if user.is_authenticated else events.CLOSE_SIGNED_OUT
            await self._refuse(code)
            for group in self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined = ()
            return
        self.scope["user"] = user
        if self.close_before_accept is not None:
            # Signed out (or the like) while this socket was being opened.
            await self._refuse(self.close_before_accept)
            return
        title, self.language, self.zone = opened
        self._init_limits()
        await self.accept()
        await self.send_json(events.title_frame(self.conversation_id, title))
        await self.release(still_open=lambda: not self.closing)
        if self.close_before_accept is not None:  # came while the title was being sent
            await self.close(code=self.close_before_accept)

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
        self.frames = TokenBucket(float(rate), float(2 * rate))
        self.snapshots = SnapshotPacer(
            settings.WS_SYNC_MIN_INTERVAL_MS / 1000, SNAPSHOT_WAIT_SECONDS
        )

    async def _refuse_frame(self) -> None:
        """One error frame per run of refused frames; a second's worth more closes the socket."""
        if self.frames.refused == 1:
            await self.send_json(
                events.error_frame(
                    "too_many_frames",
                    _("Too many frames: at most %(count)s a second. This one was ignored.")
                    % {"count": settings.WS_MAX_FRAMES_PER_SECOND},
                )
            )
        elif self.frames.refused > self.frames.rate:
            log.warning("Closing a socket that kept sending over the frame rate limit.")
            self.closing = True
            await self.close(code=events.CLOSE_TOO_MANY_FRAMES)

    # --- Frames in ------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        with translation.override(self.language), timezone.override(self.zone):
            await self._receive(text_data)

    async def _receive(self, text_data: str | None) -> None:
        if self.closing:
            # Signed out, deactivated or over a limit: the close is on its way.
            return
        if not self.frames.take():
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
        except ActionError as exc:
            await self.send_json(events.error_frame(exc.code, exc.message, kind))

    async def on_send(self, content: dict[str, Any]) -> None:
        await answers.post_message(
            user=self.user, conversation_id=self.conversation_id,
            text=content.get("text"), model=content.get("model"),
            attachments=content.get("attachments"),
        )  # fmt: skip

    async def on_regenerate(self, content: dict[str, Any]) -> None:
        await answers.regenerate(
            user=self.user, conversation_id=self.conversation_id,
            message_id=content.get("message_id"), model=content.get("model"),
        )  # fmt: skip

    async def on_compare(self, content: dict[str, Any]) -> None:
        await answers.compare(
            user=self.user, conversation_id=self.conversation_id,
            message_id=content.get("message_id"), model=content.get("model"),
        )  # fmt: skip

    async def on_edit(self, content: dict[str, Any]) -> None:
        await answers.edit(
            user=self.user, conversation_id=self.conversation_id,
            message_id=content.get("message_id"), text=content.get("text"),
            model=content.get("model"),
        )  # fmt: skip

    async def on_switch(self, content: dict[str, Any]) -> None:
        await answers.switch(
            user=self.user, conversation_id=self.conversation_id,
            message_id=content.get("message_id"),
        )  # fmt: skip

    async def on_delete(self, content: dict[str, Any]) -> None:
        await answers.delete(
            user=self.user, conversation_id=self.conversation_id,
            message_id=content.get("message_id"),
        )  # fmt: skip

    async def on_stop(self, content: dict[str, Any]) -> None:
        await answers.stop(user=self.user, conversation_id=self.conversation_id)

    async def on_sync(self, content: dict[str, Any]) -> None:
        """Coalesced (SnapshotPacer): one snapshot outstanding, one per WS_SYNC_MIN_INTERVAL_MS."""
        if self.snapshots.outstanding() or self._deferred_sync is not None:
            return  # The snapshot on its way answers this request too.
        wait = self.snapshots.delay()
        if wait > 0:
            self._deferred_sync = asyncio.create_task(self._sync_later(wait))
            return
        await self._request_snapshot()

    async def _sync_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._deferred_sync = None
        if self.closing:
            return
        with translation.override(self.language), timezone.override(self.zone):
            try:
                await self._request_snapshot()
            except ActionError as exc:
                await self.send_json(events.error_frame(exc.code, exc.message, "sync"))

    async def _request_snapshot(self) -> None:
        self.snapshots.requested()
        frame = await answers.request_snapshot(
            user=self.user, conversation_id=self.conversation_id, reply_channel=self.channel_name
        )
        if frame is None:
            self.snapshots.awaiting()
        else:
            await self.send_json(frame)

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
        if event["frame"]["type"] == "snapshot" and self.held is None:
            self.snapshots.arrived()
        await self.send_or_hold(event["frame"])

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

    def _open(self, sign_in: SocketSignIn) -> tuple[Any, tuple[str, str, Any] | None]:
        """The session's user, checked (accounts.sockets), and if they own the conversation
        its title and the socket's language and zone: one query, the conversation joined to
        its owner and their settings (the user's own read, where there were two)."""
        rows = (
            Conversation.objects.select_related("user__chat_settings")
            .defer("user__chat_settings__avatar")
            .filter(pk=self.conversation_id, user_id=sign_in.user_id, importing=False)
            .order_by()  # one row by its key: no ORDER BY (first() would add one)
        )
        row = next(iter(rows), None)
        user = sign_in.user_from(row.user if row is not None else None)
        if row is None or not user.is_authenticated:
            return user, None
        chosen = getattr(user, "chat_settings", None)
        setting = chosen.language if chosen is not None else ""
        zone = chosen.time_zone if chosen is not None else ""
        return user, (row.title, language_for_scope(self.scope, setting), zone_for_setting(zone))
