"""Instances' heartbeats (realtime.instances) and the sweep of a dead instance's answers
(streaming.heartbeat), on the test database and the local cache."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from conversations import recovery
from conversations.models import Message
from realtime import instances
from streaming import heartbeat


def live_answer(conversation, *, worker: str, quiet_s: float) -> Message:
    question = Message.objects.create(conversation=conversation, role="user", content="q")
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", status="streaming",
        content="so far", worker=worker,
    )  # fmt: skip
    Message.objects.filter(pk=answer.pk).update(
        updated_at=timezone.now() - dt.timedelta(seconds=quiet_s)
    )
    answer.refresh_from_db()
    return answer


@pytest.mark.django_db
def test_a_dead_instances_answers_are_ended_and_the_living_ones_kept(conversation, settings):
    settings.INSTANCE_HEARTBEAT_SECONDS = 2  # a heartbeat lasts 6 s
    cache.set("chatweb:instance:alive", 1)
    dead = live_answer(conversation, worker="dead", quiet_s=10)
    alive = live_answer(conversation, worker="alive", quiet_s=10)
    mine = live_answer(conversation, worker=settings.INSTANCE_ID, quiet_s=10)
    recent = live_answer(conversation, worker="dead-but-just-checkpointed", quiet_s=1)

    assert heartbeat.beat_and_sweep() == 1
    statuses = {m.worker: Message.objects.get(pk=m.pk) for m in (dead, alive, mine, recent)}
    ended = statuses["dead"]
    assert (ended.status, ended.error_code, ended.content) == (
        "interrupted",
        "interrupted",
        "so far",
    )
    assert statuses["alive"].status == "streaming"
    assert statuses[settings.INSTANCE_ID].status == "streaming"  # this process: recover_streams'
    assert statuses["dead-but-just-checkpointed"].status == "streaming"
    assert instances.is_alive(settings.INSTANCE_ID)


@pytest.mark.django_db
def test_a_beat_keeps_an_instance_alive_for_three_beats(settings):
    settings.INSTANCE_HEARTBEAT_SECONDS = 2
    settings.INSTANCE_ID = "web-7"
    instances.beat()
    settings.INSTANCE_ID = "web-8"
    assert instances.is_alive("web-7")
    assert not instances.is_alive("web-9")
    assert instances.ttl() == 6


@pytest.mark.django_db
def test_a_sync_on_a_dead_instances_answer_ends_it_at_once(conversation, settings):
    settings.INSTANCE_HEARTBEAT_SECONDS = 2
    settings.STREAM_STALE_SECONDS = 600
    answer = live_answer(conversation, worker="dead", quiet_s=10)
    assert recovery.is_abandoned(answer, running_here=False)
    cache.set("chatweb:instance:dead", 1)
    assert not recovery.is_abandoned(answer, running_here=False)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_user_deactivated_without_a_signal_has_their_sockets_closed(
    connect, alice, bob, conversation
):
    """QuerySet.update() sends no signal: the periodic check closes the socket (4401);
    another user's socket stays open."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model

    from conversations.models import Conversation
    from realtime import events

    theirs = await Conversation.objects.acreate(user=bob, model="fake-model")
    socket = await connect(alice, conversation.pk)
    other = await connect(bob, theirs.pk)
    await get_user_model().objects.filter(pk=alice.pk).aupdate(is_active=False)
    assert await sync_to_async(heartbeat.close_deactivated_sockets)() == 1
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": events.CLOSE_SIGNED_OUT}
    assert await other.receive_nothing(timeout=0.2)
    await get_user_model().objects.filter(pk=alice.pk).aupdate(is_active=True)
    assert await sync_to_async(heartbeat.close_deactivated_sockets)() == 0  # all active
