"""The conversation socket: a thin translator between frames and actions.

It authorises in connect, joins the conversation's group, turns frames into action
calls and forwards group events. It never awaits an answer: generations run as
process-owned tasks (streaming.generation), so Stop and disconnect are never stuck
behind one.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from conversations import actions
from conversations.models import Conversation, Message
from streaming import events, generation

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class ConversationConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    conversation_id: int
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.conversation_id = int(self.scope["url_route"]["kwargs"]["conversation_id"])
        owned = await Conversation.objects.for_user(user).filter(pk=self.conversation_id).aexists()
        if not owned:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = events.conversation_group(self.conversation_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # --- Frames in ------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            content = json.loads(text_data or "")
        except ValueError:
            content = None
        kind = content.get("type") if isinstance(content, dict) else None
        if kind not in events.CLIENT_FRAME_TYPES:
            await self.send_json(
                events.error_frame(
                    "bad_frame",
                    "Frames are JSON objects whose type is one of: "
                    + ", ".join(events.CLIENT_FRAME_TYPES)
                    + ".",
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
        answer = await database_sync_to_async(self._post)(content.get("text"), content.get("model"))
        await generation.start(answer.pk, self.conversation_id)

    async def on_regenerate(self, content: dict[str, Any]) -> None:
        answer = await database_sync_to_async(self._regenerate)(content.get("model"))
        await generation.start(answer.pk, self.conversation_id)

    async def on_stop(self, content: dict[str, Any]) -> None:
        live = await database_sync_to_async(self._live_answer)()
        if live is None:
            raise actions.ActionError("not_streaming", "Nothing is being written right now.")
        await self.channel_layer.group_send(
            events.control_group(self.conversation_id), events.stop_event(live.pk)
        )

    async def on_sync(self, content: dict[str, Any]) -> None:
        last = await database_sync_to_async(self._last_answer)()
        if last is not None and last.is_live:
            # Only the process running the answer knows the text not yet checkpointed.
            await self.channel_layer.group_send(
                events.control_group(self.conversation_id),
                events.snapshot_request(last.pk, self.channel_name),
            )
            return
        await self.send_json(events.snapshot_frame(last.as_event() if last else None))

    # --- Group events out -----------------------------------------------------------------

    async def chat_frame(self, event: events.ForwardEvent) -> None:
        await self.send_json(event["frame"])

    # --- Database steps (worker thread) ---------------------------------------------------

    def _conversation(self) -> Conversation:
        try:
            return Conversation.objects.get(pk=self.conversation_id)
        except Conversation.DoesNotExist:
            # Deleted from another tab while this one stayed open.
            raise actions.ActionError("not_found", "This conversation was deleted.") from None

    def _post(self, text: object, model: object) -> Message:
        return actions.post_user_message(conversation=self._conversation(), text=text, model=model)

    def _regenerate(self, model: object) -> Message:
        return actions.regenerate(conversation=self._conversation(), model=model)

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
