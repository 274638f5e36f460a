"""The embedded defaults' channel layer: channels' in-memory layer without its scans.

channels.layers.InMemoryChannelLayer walks every channel and every group on every
`receive` and `group_send` to expire old messages (a fifth of the process at 500
concurrent streams), builds a new asyncio.Queue on every call, and deep-copies a group
message once per member. This layer keeps the same contract (channel and group names
checked, per-channel capacity -> ChannelFull on `send`, dropped silently on
`group_send`, messages expire after `expiry` seconds, a channel whose message expired
leaves its groups, group membership expires after `group_expiry`, `flush`), but does
the work only for the channel or group in hand:

- expiry is checked lazily at the head of the one channel being sent to or read;
- group membership expiry is checked only for the group being sent to;
- a channel -> groups index makes "leave every group" cheap;
- a group message is copied once and shared by its receivers (consumers only read it);
- a receiver in this process may be attached to its channel (`attach`): a message for it
  is then handed to it in the sender's task, instead of being queued for its own task to
  wake up to (a task step and a trip through the event loop per delta frame per socket),
  whenever nothing is queued before it and it is not handling another message (so
  messages keep their order). The socket (streaming/socketbase.py) attaches itself.

One process only, like the layer it replaces: Redis (REDIS_URL) is what spans instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import string
import time
from collections import deque
from copy import deepcopy
from typing import Any, Protocol

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisSingleShardConnection

log = logging.getLogger(__name__)


class _Channel:
    """One channel's messages (oldest first) and the receivers waiting on it."""

    __slots__ = ("messages", "waiters")

    def __init__(self) -> None:
        self.messages: deque[tuple[float, dict[str, Any]]] = deque()
        self.waiters: deque[asyncio.Future[dict[str, Any]]] = deque()


class DirectReceiver(Protocol):
    """A channel's receiver that takes messages in the sender's task (attach())."""

    def can_take(self) -> bool:
        """False while it handles a message: the next one is queued instead."""
        ...

    async def take(self, message: dict[str, Any]) -> None:
        """Handle the message (never raises: a receiver's failure is not the sender's)."""
        ...


class EmbeddedChannelLayer(BaseChannelLayer):  # type: ignore[misc]
    extensions = ["groups", "flush"]

    def __init__(
        self,
        expiry: float = 60,
        group_expiry: int = 86400,
        capacity: int = 100,
        channel_capacity: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            expiry=expiry, capacity=capacity, channel_capacity=channel_capacity, **kwargs
        )
        self.group_expiry = group_expiry
        self.channels: dict[str, _Channel] = {}
        self.groups: dict[str, dict[str, float]] = {}
        self._memberships: dict[str, set[str]] = {}
        self._direct: dict[str, DirectReceiver] = {}
        # Attached channels whose reader was handed a message it has not resumed with yet:
        # a later one must not overtake it by the direct way.
        self._handed: set[str] = set()

    # --- Direct receivers -------------------------------------------------------------

    def attach(self, channel: str, receiver: DirectReceiver) -> None:
        """Hand `channel`'s messages to `receiver` in the sender's task when it can take
        them (nothing queued for it, not busy); queue them as usual otherwise."""
        self._direct[channel] = receiver

    def detach(self, channel: str) -> None:
        self._direct.pop(channel, None)
        self._handed.discard(channel)

    def _taker(self, channel: str) -> DirectReceiver | None:
        receiver = self._direct.get(channel)
        if receiver is None or channel in self._handed or not receiver.can_take():
            return None
        box = self.channels.get(channel)
        return receiver if box is None or not box.messages else None

    # --- Channels ---------------------------------------------------------------------

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        receiver = self._taker(channel)
        if receiver is not None:
            await receiver.take(deepcopy(message))
            return
        if not self._put(channel, deepcopy(message), time.time()):
            raise ChannelFull(channel)

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message on `channel`; one waiting receiver gets each message."""
        self.require_valid_channel_name(channel)
        box = self.channels.get(channel)
        if box is None:
            box = self.channels[channel] = _Channel()
        self._expire(channel, box, time.time())
        if box.messages:
            message = box.messages.popleft()[1]
            self._forget_if_idle(channel, box)
            return message
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        box.waiters.append(waiter)
        try:
            message = await waiter
            self._handed.discard(channel)
            return message
        except asyncio.CancelledError:
            self._handed.discard(channel)
            if waiter.done() and not waiter.cancelled():
                # Handed a message, then cancelled before running: give it back, first
                # in line, so a cancelled receive never loses a message.
                self._requeue(channel, waiter.result())
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    box.waiters.remove(waiter)
            raise
        finally:
            self._forget_if_idle(channel, box)

    async def new_channel(self, prefix: str = "specific.") -> str:
        suffix = "".join(random.choices(string.ascii_letters, k=12))
        return f"{prefix}.inmemory!{suffix}"

    def _put(self, channel: str, message: dict[str, Any], now: float) -> bool:
        """Queue (or hand over) one message; False if the channel is full."""
        box = self.channels.get(channel)
        if box is None:
            box = self.channels[channel] = _Channel()
        while box.waiters:
            waiter = box.waiters.popleft()
            if not waiter.done():
                waiter.set_result(message)
                if channel in self._direct:
                    self._handed.add(channel)
                return True
        self._expire(channel, box, now)
        if len(box.messages) >= self.get_capacity(channel):
            return False
        box.messages.append((now + self.expiry, message))
        return True

    def _requeue(self, channel: str, message: dict[str, Any]) -> None:
        box = self.channels.get(channel)
        if box is None:
            box = self.channels[channel] = _Channel()
        while box.waiters:
            waiter = box.waiters.popleft()
            if not waiter.done():
                waiter.set_result(message)
                return
        box.messages.appendleft((time.time() + self.expiry, message))

    def _expire(self, channel: str, box: _Channel, now: float) -> bool:
        """Drop this channel's expired messages; a channel that let one expire is gone."""
        expired = False
        while box.messages and box.messages[0][0] < now:
            box.messages.popleft()
            expired = True
        if expired:
            self._leave_groups(channel)
        return expired

    def _forget_if_idle(self, channel: str, box: _Channel) -> None:
        if not box.messages and not box.waiters and self.channels.get(channel) is box:
            del self.channels[channel]

    # --- Groups -----------------------------------------------------------------------

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        self.groups.setdefault(group, {})[channel] = time.time()
        self._memberships.setdefault(channel, set()).add(group)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_channel_name(channel)
        self.require_valid_group_name(group)
        self._discard(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        members = self.groups.get(group)
        if not members:
            return
        now = time.time()
        joined_before = now - self.group_expiry
        stale = [channel for channel, joined in members.items() if joined < joined_before]
        for channel in stale:
            self._discard(group, channel)
        copy = deepcopy(message)
        takers: list[DirectReceiver] = []
        for channel in list(members):
            box = self.channels.get(channel)
            if box is not None and self._expire(channel, box, now):
                continue  # it let a message expire: it left every group
            receiver = self._taker(channel)
            if receiver is not None:
                takers.append(receiver)
            else:
                self._put(channel, copy, now)  # a full channel misses a group message
        for receiver in takers:
            await receiver.take(copy)

    def _discard(self, group: str, channel: str) -> None:
        members = self.groups.get(group)
        if members is not None:
            members.pop(channel, None)
            if not members:
                del self.groups[group]
        joined = self._memberships.get(channel)
        if joined is not None:
            joined.discard(group)
            if not joined:
                del self._memberships[channel]

    def _leave_groups(self, channel: str) -> None:
        for group in list(self._memberships.get(channel, ())):
            self._discard(group, channel)

    # --- Flush extension --------------------------------------------------------------

    async def flush(self) -> None:
        self._direct = {}
        self._handed = set()
        for box in self.channels.values():
            for waiter in box.waiters:
                waiter.cancel()
        self.channels = {}
        self.groups = {}
        self._memberships = {}

    async def close(self) -> None:
        pass


class PipelinedPubSubChannelLayer(RedisPubSubChannelLayer):  # type: ignore[misc]
    """channels-redis's pub/sub layer whose group_send PUBLISHes go out in pipelines.

    channels-redis publishes one message per round trip, under a lock its shard also
    takes to subscribe and unsubscribe: every delta frame of every answer of the process
    waited in that one line (py-spy at 200 concurrent, PostgreSQL + Redis: the channel
    layer was a quarter of the process). Here the publishes that queue while one batch
    is on its way go out together as the next (one pipeline, in order, no transaction);
    alone, a publish goes at once as a plain PUBLISH (a pipeline of one costs more).
    group_send returns once its message is published, and raises what Redis raised.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batches: dict[Any, _PublishBatch] = {}

    def _get_layer(self) -> Any:
        layer = super()._get_layer()
        if not getattr(layer, "_chatweb_shards", False):
            # Made with the loop's layer, before anything subscribed: ours instead.
            layer._shards = [_Shard(shard.host, layer) for shard in layer._shards]
            layer._chatweb_shards = True
        return layer

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        layer = self._get_layer()
        channel = layer._get_group_channel_name(group)
        shard = layer._get_shard(channel)
        batch = self._batches.get(shard)
        if batch is None:
            batch = self._batches[shard] = _PublishBatch(shard)
        await batch.publish(channel, self.serialize(message))

    async def flush(self) -> None:
        self._batches.clear()
        await self._get_layer().flush()


class _Shard(RedisSingleShardConnection):  # type: ignore[misc]
    """channels-redis's connection to one Redis, whose reader wakes on a subscription.

    With nothing subscribed, channels-redis's reader sleeps 0.1 s between looks: after a
    quiet moment (the process's last socket closed), the first frames of the next chat
    waited up to that long (the bench, one chat at a time on PostgreSQL + Redis: 50-100
    ms more to the first text). Here it waits for the next subscription instead (still
    looking every 0.1 s).
    """

    _subscribed: asyncio.Event | None = None
    # How long the idle reader waits for a subscription before it looks again anyway.
    idle_look_seconds = 0.1

    async def subscribe(self, channel: str) -> None:
        await super().subscribe(channel)
        if self._subscribed is not None:
            self._subscribed.set()

    async def _do_receiving(self) -> None:
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=0.1
                    )
                    self._receive_message(message)
                else:
                    self._subscribed = asyncio.Event()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.idle_look_seconds):
                            await self._subscribed.wait()
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception:
                log.exception("Unexpected exception in the Redis channel layer's reader")
                await asyncio.sleep(1)


class _PublishBatch:
    """One Redis shard's publishes: one at a time goes straight out (a plain PUBLISH);
    those that arrive while it is on its way wait, and go together as the next batch."""

    def __init__(self, shard: Any) -> None:
        self.shard = shard
        self.sending = False
        self.queued: list[tuple[str, bytes, asyncio.Future[None]]] = []

    async def publish(self, channel: str, payload: bytes) -> None:
        if self.sending:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.queued.append((channel, payload, done))
            await done
            return
        self.sending = True
        try:
            async with self.shard._lock:  # as channels-redis's own publish
                self.shard._ensure_redis()
                await self.shard._redis.publish(channel, payload)
        finally:
            if self.queued:
                asyncio.get_running_loop().create_task(self._send_queued())
            else:
                self.sending = False

    async def _send_queued(self) -> None:
        try:
            while self.queued:
                batch, self.queued = self.queued, []
                try:
                    async with self.shard._lock:
                        self.shard._ensure_redis()
                        pipe = self.shard._redis.pipeline(transaction=False)
                        for channel, payload, _ in batch:
                            pipe.publish(channel, payload)
                        await pipe.execute()
                except Exception as exc:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self.sending = False


async def release_channel(layer: Any, channel: str) -> None:
    """Let go of a channel from new_channel() that nothing will read again.

    channels-redis's pub/sub layer unsubscribes a channel only when a receive() on it is
    cancelled (as when a socket closes); a generation ends its listener by a message
    instead (generation.py says why), so without this every answer would leave one
    subscription behind. The embedded layer forgets idle channels by itself.
    """
    if isinstance(layer, RedisPubSubChannelLayer):
        loop_layer = layer._get_layer()
        if loop_layer.channels.pop(channel, None) is not None:
            await loop_layer._get_shard(channel).unsubscribe(channel)
