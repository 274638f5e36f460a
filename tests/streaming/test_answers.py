"""The answer engine's entry point (streaming/answers.py) without a socket: posting,
stopping and watching an answer, as every transport does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conversations.actions import ActionError
from conversations.models import Message
from streaming import answers
from streaming.registry import registry
from tests.upstream import FakeUpstream, expected_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def collect(iterator: Any, *, timeout: float = 15) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        async for frame in iterator:
            frames.append(frame)
    return frames


def text_of(frames: list[dict[str, Any]]) -> str:
    """What a client shows: the snapshot's text, then each delta appended."""
    text = ""
    for frame in frames:
        if frame["type"] == "snapshot":
            text = frame["message"]["content"]
        elif frame["type"] == "delta":
            text += frame["text"]
    return text


async def first_delta(answer_id: int) -> None:
    """Wait until the answer has sent some text (a watcher then joins mid-answer)."""
    for _ in range(400):
        running = registry.get(answer_id)
        if running is not None and running.deltas.seq >= 2:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the answer never streamed")


async def test_watching_mid_answer_gives_a_snapshot_then_every_later_delta_once_then_done(
    live, alice, conversation, upstream: FakeUpstream
):
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=40 delay=0.02]]"
    )
    await first_delta(answer.pk)
    frames = await collect(answers.watch(user=alice, message_id=answer.pk))

    kinds = [f["type"] for f in frames]
    assert kinds[0] == "snapshot"
    assert kinds[-1] == "done"
    assert set(kinds[1:-1]) <= {"delta"}
    seqs = [f["seq"] for f in frames if f["type"] == "delta"]
    start = frames[0]["message"]["seq"]
    assert start >= 2
    assert seqs == list(range(start + 1, start + 1 + len(seqs)))  # no gap, no duplicate
    assert text_of(frames) == expected_text(40) == frames[-1]["message"]["content"]
    assert frames[-1]["message"]["status"] == "done"


async def test_watching_an_ended_answer_gives_its_done_alone(
    live, alice, conversation, upstream: FakeUpstream
):
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=3]]"
    )
    await asyncio.wait_for(registry.running[answer.pk][1], 10)
    frames = await collect(answers.watch(user=alice, message_id=answer.pk))
    assert [f["type"] for f in frames] == ["done"]
    assert frames[0]["message"]["content"] == expected_text(3)


async def test_a_snapshot_is_asked_of_the_process_running_the_answer_when_it_is_elsewhere(
    live, alice, conversation, upstream: FakeUpstream, monkeypatch
):
    """As from another instance: not in this process's registry, the snapshot request
    goes through the conversation's control group and the answer's process replies."""
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=40 delay=0.02]]"
    )
    await first_delta(answer.pk)
    monkeypatch.setattr(registry, "get", lambda message_id: None)
    frames = await collect(answers.watch(user=alice, message_id=answer.pk))
    assert frames[0]["type"] == "snapshot"
    assert frames[0]["message"]["seq"] >= 2
    assert text_of(frames) == expected_text(40)
    assert frames[-1]["type"] == "done"


async def test_a_lost_delta_brings_a_fresh_snapshot_and_nothing_twice(
    live, alice, conversation, upstream: FakeUpstream, monkeypatch
):
    """The channel layer may drop a frame (a full channel): the watcher sees the gap in
    seq, asks for a snapshot again, and the text stays whole."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    original = layer.group_send
    dropped: list[int] = []

    async def lossy(group: str, event: dict[str, Any]) -> None:
        frame = event.get("frame") or {}
        if frame.get("type") == "delta" and frame["seq"] == 6 and not dropped:
            dropped.append(frame["seq"])
            return
        await original(group, event)

    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=40 delay=0.02]]"
    )
    await first_delta(answer.pk)
    monkeypatch.setattr(layer, "group_send", lossy)
    frames = await collect(answers.watch(user=alice, message_id=answer.pk))
    assert dropped == [6]
    assert [f["type"] for f in frames].count("snapshot") == 2
    assert text_of(frames) == expected_text(40)
    seqs = [f["seq"] for f in frames if f["type"] == "delta"]
    assert len(seqs) == len(set(seqs))


async def test_leaving_a_watch_never_stops_the_answer(
    live, alice, conversation, upstream: FakeUpstream
):
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=20 delay=0.01]]"
    )
    watch = answers.watch(user=alice, message_id=answer.pk)
    assert (await anext(watch))["type"] == "snapshot"
    await watch.aclose()
    await asyncio.wait_for(registry.running[answer.pk][1], 10)
    await answer.arefresh_from_db()
    assert (answer.status, answer.content) == (Message.Status.DONE, expected_text(20))


async def test_stop_from_the_engine_ends_the_answer_stopped_for_its_watchers(
    live, alice, conversation, upstream: FakeUpstream
):
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=200 delay=0.02]]"
    )
    await first_delta(answer.pk)
    watch = answers.watch(user=alice, message_id=answer.pk)
    assert (await anext(watch))["type"] == "snapshot"
    assert await answers.stop(user=alice, conversation_id=conversation.pk) == answer.pk
    rest = await collect(watch)
    assert rest[-1]["type"] == "done"
    assert rest[-1]["message"]["status"] == "stopped"
    with pytest.raises(ActionError) as refused:
        await answers.stop(user=alice, conversation_id=conversation.pk)
    assert refused.value.code == "not_streaming"


async def test_another_users_conversation_and_answer_are_not_found(
    live, alice, bob, conversation, upstream: FakeUpstream
):
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=3]]"
    )
    with pytest.raises(ActionError) as refused:
        await anext(answers.watch(user=bob, message_id=answer.pk))
    assert refused.value.code == "message_not_found"
    for call in (
        answers.post_message(user=bob, conversation_id=conversation.pk, text="hi"),
        answers.regenerate(user=bob, conversation_id=conversation.pk),
        answers.stop(user=bob, conversation_id=conversation.pk),
        answers.request_snapshot(user=bob, conversation_id=conversation.pk, reply_channel="x"),
    ):
        with pytest.raises(ActionError) as refused:
            await call
        assert refused.value.code == "not_found"
    await asyncio.wait_for(registry.running[answer.pk][1], 10)
    assert await Message.objects.filter(conversation=conversation).acount() == 2


async def test_a_deactivated_user_cannot_start_an_answer(
    live, alice, conversation, upstream: FakeUpstream
):
    from django.contrib.auth import get_user_model

    # As a script would: no signal, so no socket is closed for it.
    await get_user_model().objects.filter(pk=alice.pk).aupdate(is_active=False)
    await alice.arefresh_from_db()
    with pytest.raises(ActionError) as refused:
        await answers.post_message(user=alice, conversation_id=conversation.pk, text="hi")
    assert refused.value.code == "account_inactive"
    assert not await Message.objects.filter(conversation=conversation).aexists()


async def test_watching_a_conversation_gives_a_snapshot_then_every_frame_of_the_next_answer(
    live, alice, conversation, upstream: FakeUpstream
):
    watch = answers.watch_conversation(user=alice, conversation_id=conversation.pk)
    first = dict(await anext(watch))
    assert first == {"type": "snapshot", "message": None}  # no answer yet
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=30 delay=0.005]]"
    )
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        async for frame in watch:
            frames.append(dict(frame))
            if frame["type"] == "done":
                break
    await watch.aclose()
    kinds = [f["type"] for f in frames]
    assert kinds[:3] == ["title", "message", "message"]  # the first message names the chat
    assert frames[-1]["message"]["id"] == answer.pk
    seqs = [f["seq"] for f in frames if f["type"] == "delta"]
    assert seqs == list(range(1, len(seqs) + 1))
    assert text_of(frames) == expected_text(30)


async def test_rejoining_a_conversation_mid_answer_starts_from_its_snapshot(
    live, alice, bob, conversation, upstream: FakeUpstream
):
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=40 delay=0.02]]"
    )
    await first_delta(answer.pk)
    watch = answers.watch_conversation(user=alice, conversation_id=conversation.pk)
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        async for frame in watch:
            frames.append(dict(frame))
            if frame["type"] == "done":
                break
    await watch.aclose()
    assert frames[0]["type"] == "snapshot"
    assert frames[0]["message"]["id"] == answer.pk
    start = frames[0]["message"]["seq"]
    seqs = [f["seq"] for f in frames if f["type"] == "delta" and f["seq"] > start]
    assert seqs == list(range(start + 1, start + 1 + len(seqs)))
    assert text_of(
        [frames[0], *(f for f in frames if f["type"] == "delta" and f["seq"] > start)]
    ) == (expected_text(40))
    with pytest.raises(ActionError) as refused:
        await anext(answers.watch_conversation(user=bob, conversation_id=conversation.pk))
    assert refused.value.code == "not_found"


async def test_a_watch_of_an_answer_deleted_with_its_conversation_ends_with_not_found(
    live, alice, conversation, upstream: FakeUpstream, settings
):
    """Deleted mid-answer, the answer may end unseen (its row gone before its end was
    saved): the watcher's quiet check finds the row gone and ends, never waits forever."""
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=100 delay=0.02]]"
    )
    await first_delta(answer.pk)
    watch = answers.watch(user=alice, message_id=answer.pk)
    assert (await anext(watch))["type"] == "snapshot"
    # The watcher's quiet check, short from here on (earlier it would judge the answer).
    settings.STREAM_STALE_SECONDS = 0.3
    await conversation.adelete()
    with pytest.raises(ActionError) as ended:
        await collect(watch, timeout=10)
    assert ended.value.code == "not_found"
