"""Instances' heartbeats (realtime.instances) and the sweep of a dead instance's answers
(streaming.heartbeat), on the test database and the local cache."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from conversations import actions
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
    assert actions.is_abandoned(answer, running_here=False)
    cache.set("chatweb:instance:dead", 1)
    assert not actions.is_abandoned(answer, running_here=False)
