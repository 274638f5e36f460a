"""The capture_frames fixture (tests/conftest.py) records what is sent, and only that."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from conversations import organise
from realtime import events


@pytest.mark.django_db
def test_it_records_the_frames_an_action_publishes_at_commit(conversation, capture_frames):
    with capture_frames() as captured:
        organise.rename(conversation=conversation, title="Renamed")
        # Published after commit: nothing is sent while the transaction is open.
        assert captured.sent == []

    group = events.conversation_group(conversation.pk)
    assert captured.frames("title") == [
        {"type": "title", "conversation_id": conversation.pk, "title": "Renamed"}
    ]
    assert [to for to, _ in captured.sent] == [group]
    # What a test asserts about the wrong frame fails.
    assert captured.frames("path") == []
    with pytest.raises(AssertionError):
        assert captured.frames("title", group="some-other-group") == captured.frames("title")


def test_it_records_every_event_still_sends_it_and_stops_at_the_blocks_end(capture_frames):
    title = events.title_frame(7, "Seven")

    async def scenario() -> tuple[Any, dict[str, Any]]:
        # One event loop for every layer call (channels-redis keeps its subscriptions
        # per loop).
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("watchers", channel)
        with capture_frames() as captured:
            await layer.group_send("watchers", events.forward(title))
            await layer.group_send("watchers", events.close_event(4001))
        received = await layer.receive(channel)
        # After the block the layer's own group_send is back: nothing more is recorded.
        await layer.group_send("watchers", events.forward(events.title_frame(7, "Late")))
        assert "group_send" not in vars(layer)
        if hasattr(layer, "close_pools"):  # channels-redis: its pools belong to this loop
            await layer.close_pools()
        return captured, received

    captured, received = async_to_sync(scenario)()

    assert [event["type"] for event in captured.events()] == ["chat.frame", "socket.close"]
    assert captured.frames() == [title]
    assert received["frame"] == title  # sent on, as without the fixture
    assert len(captured.sent) == 2
