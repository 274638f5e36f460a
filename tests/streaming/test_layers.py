"""streaming/layers.py: the embedded channel layer keeps channels' in-memory contract.

The contract tests (after channels' own tests of InMemoryChannelLayer) run against both
layers, so ours is checked to behave as the one it replaces; the rest pin what it adds:
no cancelled receive loses a message, idle channels are forgotten, and a group message
is copied once, not once per member.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

import pytest
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

from streaming.layers import EmbeddedChannelLayer, release_channel

LAYERS = [EmbeddedChannelLayer, InMemoryChannelLayer]


@pytest.fixture(params=LAYERS, ids=lambda cls: cls.__name__)
def layer_class(request: pytest.FixtureRequest) -> Any:
    return request.param


async def receive(layer: Any, channel: str) -> dict[str, Any]:
    async with asyncio.timeout(1):
        return await layer.receive(channel)  # type: ignore[no-any-return]


# --- The contract -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_send_receive(layer_class: Any) -> None:
    layer = layer_class(capacity=3)
    await layer.send("test-channel-1", {"type": "test.message", "text": "Ahoy-hoy!"})
    assert await receive(layer, "test-channel-1") == {"type": "test.message", "text": "Ahoy-hoy!"}


@pytest.mark.asyncio
async def test_a_message_is_copied_when_sent(layer_class: Any) -> None:
    layer = layer_class()
    items = [1]
    await layer.send("test-channel-1", {"type": "test.message", "items": items})
    items.append(2)
    assert (await receive(layer, "test-channel-1"))["items"] == [1]


@pytest.mark.asyncio
async def test_send_capacity(layer_class: Any) -> None:
    layer = layer_class(capacity=3)
    for _ in range(3):
        await layer.send("test-channel-1", {"type": "test.message"})
    with pytest.raises(ChannelFull):
        await layer.send("test-channel-1", {"type": "test.message"})


@pytest.mark.asyncio
async def test_process_local_send_receive(layer_class: Any) -> None:
    layer = layer_class(capacity=3)
    channel = await layer.new_channel()
    assert "!" in channel
    await layer.send(channel, {"type": "test.message", "text": "Local only please"})
    assert (await receive(layer, channel))["text"] == "Local only please"


@pytest.mark.asyncio
async def test_multi_send_receive_keeps_order(layer_class: Any) -> None:
    layer = layer_class()
    for n in range(3):
        await layer.send("test-channel-3", {"type": f"message.{n}"})
    assert [(await receive(layer, "test-channel-3"))["type"] for _ in range(3)] == [
        "message.0",
        "message.1",
        "message.2",
    ]


@pytest.mark.asyncio
async def test_a_waiting_receiver_gets_the_next_message(layer_class: Any) -> None:
    layer = layer_class()
    waiting = asyncio.create_task(receive(layer, "test-channel-1"))
    await asyncio.sleep(0)
    await layer.send("test-channel-1", {"type": "test.message"})
    assert await waiting == {"type": "test.message"}


@pytest.mark.asyncio
async def test_groups_basic(layer_class: Any) -> None:
    layer = layer_class(capacity=3)
    await layer.group_add("test-group", "test-gr-chan-1")
    await layer.group_add("test-group", "test-gr-chan-2")
    await layer.group_add("test-group", "test-gr-chan-3")
    await layer.group_discard("test-group", "test-gr-chan-2")
    await layer.group_send("test-group", {"type": "message.1"})
    assert (await receive(layer, "test-gr-chan-1"))["type"] == "message.1"
    assert (await receive(layer, "test-gr-chan-3"))["type"] == "message.1"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await layer.receive("test-gr-chan-2")


@pytest.mark.asyncio
async def test_groups_channel_full_drops_silently(layer_class: Any) -> None:
    layer = layer_class(capacity=3)
    await layer.group_add("test-group", "test-gr-chan-1")
    for _ in range(5):
        await layer.group_send("test-group", {"type": "message.1"})
    for _ in range(3):
        await receive(layer, "test-gr-chan-1")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await layer.receive("test-gr-chan-1")


@pytest.mark.asyncio
async def test_expired_messages_are_dropped(layer_class: Any) -> None:
    layer = layer_class(expiry=0.1)
    await layer.send("test-channel-1", {"type": "old"})
    await asyncio.sleep(0.2)
    await layer.send("test-channel-1", {"type": "new"})
    assert (await receive(layer, "test-channel-1"))["type"] == "new"


@pytest.mark.asyncio
async def test_a_channel_whose_message_expired_leaves_its_groups(layer_class: Any) -> None:
    layer = layer_class(expiry=0.1)
    await layer.group_add("test-group", "test-gr-chan-1")
    await layer.group_add("test-group", "test-gr-chan-2")
    await layer.group_send("test-group", {"type": "message.1"})
    await receive(layer, "test-gr-chan-2")  # chan-1 never reads: it is gone
    await asyncio.sleep(0.2)
    await layer.group_send("test-group", {"type": "message.2"})
    await layer.group_send("test-group", {"type": "message.3"})
    assert (await receive(layer, "test-gr-chan-2"))["type"] == "message.2"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await layer.receive("test-gr-chan-1")


@pytest.mark.asyncio
async def test_group_membership_expires(layer_class: Any) -> None:
    layer = layer_class(group_expiry=1)
    await layer.group_add("test-group", "test-gr-chan-1")
    layer.groups["test-group"]["test-gr-chan-1"] = time.time() - 5  # joined long ago
    await layer.group_send("test-group", {"type": "message.1"})
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await layer.receive("test-gr-chan-1")


@pytest.mark.asyncio
async def test_flush_empties_channels_and_groups(layer_class: Any) -> None:
    layer = layer_class()
    await layer.send("test-channel-1", {"type": "message.1"})
    await layer.group_add("test-group", "test-gr-chan-1")
    await layer.flush()
    await layer.group_send("test-group", {"type": "message.2"})
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await layer.receive("test-channel-1")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await layer.receive("test-gr-chan-1")


@pytest.mark.asyncio
async def test_names_are_checked(layer_class: Any) -> None:
    layer = layer_class()
    with pytest.raises(TypeError):
        await layer.send("not a valid name", {"type": "x"})
    with pytest.raises(TypeError):
        await layer.group_add("not a valid group", "test-channel-1")


# --- What the embedded layer adds ---------------------------------------------------------


@pytest.mark.asyncio
async def test_a_cancelled_receive_loses_no_message() -> None:
    """Handed a message, then cancelled before it ran: the message goes back in line."""
    layer = EmbeddedChannelLayer()
    waiting = asyncio.create_task(layer.receive("test-channel-1"))
    await asyncio.sleep(0)  # the receiver now waits
    await layer.send("test-channel-1", {"type": "message.1"})
    waiting.cancel()  # before the receiver resumes with the message
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await receive(layer, "test-channel-1") == {"type": "message.1"}


@pytest.mark.asyncio
async def test_read_and_abandoned_channels_are_forgotten() -> None:
    layer = EmbeddedChannelLayer()
    await layer.send("test-channel-1", {"type": "message.1"})
    await receive(layer, "test-channel-1")
    waiting = asyncio.create_task(layer.receive("test-channel-2"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert layer.channels == {}


@pytest.mark.asyncio
async def test_group_send_copies_the_message_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import streaming.layers

    copies = 0
    original = streaming.layers.deepcopy  # type: ignore[attr-defined]

    def counting(value: Any) -> Any:
        nonlocal copies
        copies += 1
        return original(value)

    monkeypatch.setattr(streaming.layers, "deepcopy", counting)
    layer = EmbeddedChannelLayer()
    for n in range(50):
        await layer.group_add("test-group", f"test-gr-chan-{n}")
    await layer.group_send("test-group", {"type": "message.1"})
    assert copies == 1
    assert (await receive(layer, "test-gr-chan-49"))["type"] == "message.1"


class Taker:
    """A direct receiver (EmbeddedChannelLayer.attach) that records what it took, and can
    be made busy, or slow (suspending inside take)."""

    def __init__(self) -> None:
        self.taken: list[dict[str, Any]] = []
        self.busy = False
        self.gate: asyncio.Event | None = None

    def can_take(self) -> bool:
        return not self.busy

    async def take(self, message: dict[str, Any]) -> None:
        self.busy = True
        try:
            if self.gate is not None:
                await self.gate.wait()
            self.taken.append(message)
        finally:
            self.busy = False


@pytest.mark.asyncio
async def test_an_attached_receiver_takes_messages_in_the_senders_task() -> None:
    layer = EmbeddedChannelLayer()
    channel = await layer.new_channel()
    taker = Taker()
    layer.attach(channel, taker)
    await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "m", "n": 1})
    await layer.send(channel, {"type": "m", "n": 2})
    # Taken before the sends returned: nothing queued for the channel's own reader.
    assert [m["n"] for m in taker.taken] == [1, 2]
    assert channel not in layer.channels
    layer.detach(channel)
    await layer.group_send("g", {"type": "m", "n": 3})
    assert (await receive(layer, channel))["n"] == 3


@pytest.mark.asyncio
async def test_a_busy_receiver_gets_the_next_messages_queued_in_order() -> None:
    layer = EmbeddedChannelLayer()
    channel = await layer.new_channel()
    taker = Taker()
    taker.gate = asyncio.Event()
    layer.attach(channel, taker)
    await layer.group_add("g", channel)
    first = asyncio.create_task(layer.group_send("g", {"type": "m", "n": 1}))
    await asyncio.sleep(0)  # the first is being taken (suspended in take)
    assert taker.busy
    await layer.group_send("g", {"type": "m", "n": 2})
    taker.gate.set()
    await first
    # The second was queued (the receiver was busy), and later messages queue behind it
    # even once the receiver is free, so they keep their order.
    await layer.group_send("g", {"type": "m", "n": 3})
    assert [m["n"] for m in taker.taken] == [1]
    assert (await receive(layer, channel))["n"] == 2
    assert (await receive(layer, channel))["n"] == 3


@pytest.mark.asyncio
async def test_a_message_handed_to_the_reader_is_not_overtaken_by_a_direct_one() -> None:
    """The receiver was busy, so a message went to its own reader (waiting in receive);
    until that reader resumes with it, the next message must queue behind it."""
    layer = EmbeddedChannelLayer()
    channel = await layer.new_channel()
    taker = Taker()
    layer.attach(channel, taker)
    reader = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0)  # the reader waits
    taker.busy = True
    await layer.send(channel, {"type": "m", "n": 1})  # handed to the waiting reader
    taker.busy = False
    await layer.send(channel, {"type": "m", "n": 2})  # must not go direct before 1 is read
    assert taker.taken == []
    assert (await reader)["n"] == 1
    assert (await receive(layer, channel))["n"] == 2
    await layer.send(channel, {"type": "m", "n": 3})  # the reader has resumed: direct again
    assert [m["n"] for m in taker.taken] == [3]


@pytest.mark.asyncio
async def test_sending_does_not_visit_other_channels() -> None:
    """A send costs the same with 1 or 1,000 other channels holding messages."""
    layer = EmbeddedChannelLayer(expiry=0.05)
    for n in range(1000):
        await layer.send(f"test-idle-{n}", {"type": "message.1"})
    await asyncio.sleep(0.1)  # every one of them has expired by now
    await layer.send("test-channel-1", {"type": "message.2"})
    await receive(layer, "test-channel-1")
    # Nothing walked the idle channels: their expired messages are still there.
    assert len(layer.channels) == 1000


# --- The Redis pub/sub layer with pipelined publishes (PostgreSQL + Redis suite) ----------

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="Redis's layer: make test-pg sets REDIS_URL"
)


@needs_redis
@pytest.mark.asyncio
async def test_publishes_queued_together_go_in_one_pipeline_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from redis.asyncio.client import Pipeline

    from streaming.layers import PipelinedPubSubChannelLayer

    pipelines: list[int] = []
    execute = Pipeline.execute

    async def counting(self: Pipeline, raise_on_error: bool = True) -> list[Any]:
        pipelines.append(len(self.command_stack))
        return await execute(self, raise_on_error)

    monkeypatch.setattr(Pipeline, "execute", counting)
    prefix = f"test-pipelined-{uuid.uuid4().hex}."
    layer = PipelinedPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]], prefix=prefix)
    try:
        listeners = [await layer.new_channel() for _ in range(2)]
        for channel in listeners:
            await layer.group_add("frames", channel)
        await layer.group_send("frames", {"type": "chat.frame", "n": -1})  # alone: at once
        assert pipelines == []  # a plain PUBLISH
        # Fifty publishes at once (as fifty answers' flushers in one loop turn): the first
        # goes out at once, the 49 that come while it is on its way go together.
        await asyncio.gather(
            *(layer.group_send("frames", {"type": "chat.frame", "n": n}) for n in range(50))
        )
        assert sum(pipelines) == 49
        assert len(pipelines) <= 2, pipelines  # not one round trip each
        for channel in listeners:
            got = [(await receive(layer, channel))["n"] for _ in range(51)]
            assert got == list(range(-1, 50))  # every one, in order
    finally:
        await layer.flush()


@needs_redis
@pytest.mark.asyncio
async def test_the_first_message_after_a_quiet_moment_is_not_held_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With nothing subscribed, channels-redis's reader slept 0.1 s between looks, so a
    chat opened after the last one closed got its first frames up to 0.1 s late: 20 such
    chats waited about a second in all. The reader now wakes on the subscription.

    Proven without a clock: the idle reader's look is made an hour apart, so a message
    that reached its receiver (within 10 s) was fetched because the subscription woke
    the reader, never because the look came round."""
    from streaming.layers import PipelinedPubSubChannelLayer, _Shard

    monkeypatch.setattr(_Shard, "idle_look_seconds", 3600.0)
    prefix = f"test-quiet-{uuid.uuid4().hex}."
    layer = PipelinedPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]], prefix=prefix)
    try:
        for n in range(5):
            channel = await layer.new_channel()
            await layer.group_add("chat", channel)
            await layer.group_send("chat", {"type": "chat.frame", "n": n})
            async with asyncio.timeout(10):
                assert (await layer.receive(channel))["n"] == n
            await layer.group_discard("chat", channel)
            await release_channel(layer, channel)
            await asyncio.sleep(0.15)  # nothing subscribed: the reader is idle again
    finally:
        await layer.flush()
