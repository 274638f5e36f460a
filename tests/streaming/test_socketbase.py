"""streaming.socketbase replaces channels' AsyncConsumer.__call__ and dispatch: the same
conversation with a socket gives the same frames through ours as through channels' own,
and the channels internals it mirrors are still there (a new channels fails here first)."""

from __future__ import annotations

import inspect
from typing import Any

import channels
import pytest
from channels.consumer import AsyncConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from streaming.socketbase import EventLoopSocket


class Behaviour:
    """A socket that joins a group, echoes what it is sent and forwards group frames."""

    async def connect(self: Any) -> None:
        await self.channel_layer.group_add("echo", self.channel_name)
        await self.accept()

    async def receive_json(self: Any, content: Any, **kwargs: Any) -> None:
        if content.get("close"):
            await self.close(code=4000)
            return
        await self.send_json({"echo": content})

    async def chat_frame(self: Any, event: Any) -> None:
        await self.send_json(event["frame"])

    async def disconnect(self: Any, code: int) -> None:
        await self.channel_layer.group_discard("echo", self.channel_name)


class Theirs(Behaviour, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    pass


class Ours(Behaviour, EventLoopSocket):
    pass


async def conversation(consumer: type[Any]) -> list[Any]:
    communicator = WebsocketCommunicator(consumer.as_asgi(), "/ws/")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    layer = get_channel_layer()
    seen: list[Any] = []
    await communicator.send_json_to({"n": 1})
    seen.append(await communicator.receive_json_from(timeout=5))
    await layer.group_send("echo", {"type": "chat.frame", "frame": {"type": "delta", "seq": 1}})
    seen.append(await communicator.receive_json_from(timeout=5))
    await layer.group_send("echo", {"type": "chat.frame", "frame": {"type": "delta", "seq": 2}})
    await communicator.send_json_to({"n": 2})
    seen += sorted([await communicator.receive_json_from(timeout=5) for _ in range(2)], key=str)
    await communicator.send_json_to({"close": True})
    seen.append(await communicator.receive_output(timeout=5))
    await communicator.disconnect()
    return seen


# channels' own consumer closes old database connections around each message.
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_our_socket_behaves_as_channels_own():
    assert await conversation(Ours) == await conversation(Theirs)


@pytest.mark.asyncio
async def test_a_group_event_with_no_handler_is_logged_and_the_socket_lives_on(caplog):
    communicator = WebsocketCommunicator(Ours.as_asgi(), "/ws/")
    assert (await communicator.connect(timeout=5))[0]
    layer = get_channel_layer()
    await layer.group_send("echo", {"type": "no.such.handler"})
    await communicator.send_json_to({"n": 3})
    assert await communicator.receive_json_from(timeout=5) == {"echo": {"n": 3}}
    await communicator.disconnect()
    assert "no.such.handler" in caplog.text


def test_the_channels_internals_socketbase_mirrors_are_still_there():
    """Pinned in pyproject.toml (channels 4.x): __call__ dispatches through
    await_many_dispatch, and handler names come from get_handler_name."""
    assert channels.__version__.startswith("4.")
    source = inspect.getsource(AsyncConsumer.__call__)
    assert "await_many_dispatch" in source
    assert "self.channel_receive" in source
    assert "get_handler_name" in inspect.getsource(AsyncConsumer.dispatch)
