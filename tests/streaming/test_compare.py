"""Comparing models (issue 22, item 5): two answers to one question streaming over one
socket, through the real ASGI application and a real local upstream."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from catalog.models import UsageRecord
from conversations.models import Conversation, Message
from tests.conftest import frames_until, is_done
from tests.upstream import FakeUpstream, expected_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

SLOW = "[[fake tokens=120 delay=0.01]] compare us"


def per_answer(frames: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The delta frames of each answer, in the order they came."""
    found: dict[int, list[dict[str, Any]]] = {}
    for frame in frames:
        if frame["type"] == "delta":
            found.setdefault(frame["message_id"], []).append(frame)
    return found


def both_done(ids: set[int]) -> Any:
    ended: set[int] = set()

    def check(frame: dict[str, Any]) -> bool:
        if frame["type"] == "done" and frame["message"]["id"] in ids:
            ended.add(frame["message"]["id"])
        return ended == ids

    return check


async def start_comparison(socket: Any, *, text: str = SLOW) -> tuple[int, int, list[Any]]:
    """Send `text`, compare its answer with fake-model-2 at its first delta; returns the
    ids of both answers and every frame up to the second answer's `message`."""
    await socket.send_json_to({"type": "send", "text": text})
    frames = await frames_until(socket, lambda f: f["type"] == "delta")
    first = frames[-1]["message_id"]
    await socket.send_json_to({"type": "compare", "message_id": first, "model": "fake-model-2"})
    more = await frames_until(
        socket, lambda f: f["type"] == "message" and f["message"]["id"] != first
        and f["message"]["role"] == "assistant",
    )  # fmt: skip
    return first, more[-1]["message"]["id"], frames + more


async def test_two_answers_stream_at_once_over_one_socket_with_every_seq_intact(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    first, second, frames = await start_comparison(socket)
    frames += await frames_until(socket, both_done({first, second}))

    deltas = per_answer(frames)
    for message_id in (first, second):
        seqs = [f["seq"] for f in deltas[message_id]]
        assert seqs == list(range(1, len(seqs) + 1)), "a frame lost or out of order"
        assert "".join(f["text"] for f in deltas[message_id]) == expected_text(120)
    # At once: the second answer's deltas came while the first was still streaming.
    first_done = next(
        i for i, f in enumerate(frames) if f["type"] == "done" and f["message"]["id"] == first
    )
    assert any(f["type"] == "delta" and f["message_id"] == second for f in frames[:first_done])
    ends = {f["message"]["id"]: f["message"] for f in frames if f["type"] == "done"}
    assert ends[first]["model"] == "fake-model"
    assert ends[second]["model"] == "fake-model-2"
    assert ends[second]["parent_id"] == ends[first]["parent_id"]
    assert sorted(r.body["model"] for r in upstream.chat_requests) == ["fake-model", "fake-model-2"]

    # Two answers in the ledger, each with its model; the conversation's model unchanged.
    rows = [
        row
        async for row in UsageRecord.objects.filter(kind=UsageRecord.Kind.ANSWER).order_by(
            "message_id"
        )
    ]
    assert [(r.message_id, r.model) for r in rows] == [
        (first, "fake-model"),
        (second, "fake-model-2"),
    ]
    await conversation.arefresh_from_db()
    assert conversation.model == "fake-model"
    assert conversation.current_leaf_id == second
    assert conversation.compare_with_id == first


async def test_the_second_answer_is_refused_over_the_concurrent_answers_quota(
    connect, alice, conversation, settings, upstream: FakeUpstream
):
    settings.MAX_CONCURRENT_ANSWERS = 1
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": SLOW})
    first = (await frames_until(socket, lambda f: f["type"] == "delta"))[-1]["message_id"]
    await socket.send_json_to({"type": "compare", "message_id": first, "model": "fake-model-2"})
    error = (await frames_until(socket, lambda f: f["type"] == "error"))[-1]
    assert (error["code"], error["request"]) == ("too_many_answers", "compare")
    assert await Message.objects.filter(role=Message.Role.ASSISTANT).acount() == 1
    await conversation.arefresh_from_db()
    assert conversation.compare_with_id is None


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"model": "fake-model-2"}, "bad_message"),
        ({"message_id": "question", "model": "fake-model-2"}, "not_comparable"),
        ({"message_id": "answer"}, "unknown_model"),
        ({"message_id": "answer", "model": "no-such-model"}, "unknown_model"),
        ({"message_id": 999_999, "model": "fake-model-2"}, "message_not_found"),
    ],
)
async def test_bad_compare_frames_are_refused_and_write_nothing(
    connect, alice, conversation, upstream: FakeUpstream, frame, code
):
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]]"})
    answer = (await frames_until(socket, is_done))[-1]["message"]
    ids = {"question": answer["parent_id"], "answer": answer["id"]}
    if "message_id" in frame and frame["message_id"] in ids:
        frame = {**frame, "message_id": ids[frame["message_id"]]}
    await socket.send_json_to({"type": "compare", **frame})
    error = (await frames_until(socket, lambda f: f["type"] == "error"))[-1]
    assert error["code"] == code
    assert await Message.objects.acount() == 2
    await conversation.arefresh_from_db()
    assert conversation.compare_with_id is None


async def test_a_reconnect_mid_comparison_gets_both_snapshots_then_the_rest_once(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    first, second, _ = await start_comparison(socket)
    await frames_until(socket, lambda f: f["type"] == "delta" and f["message_id"] == second)
    await socket.disconnect()

    again = await connect(alice, conversation.pk)
    await again.send_json_to({"type": "sync"})
    frames = await frames_until(again, both_done({first, second}))
    for message_id in (first, second):
        snapshot = next(
            f["message"]
            for f in frames
            if f["type"] == "snapshot" and f["message"]["id"] == message_id
        )
        seen = snapshot["seq"] if snapshot["status"] in Message.LIVE else None
        text = snapshot["content"]
        if seen is not None:
            later = [
                f for f in frames if f["type"] == "delta" and f["message_id"] == message_id
                and f["seq"] > seen
            ]  # fmt: skip
            assert [f["seq"] for f in later] == list(range(seen + 1, seen + 1 + len(later)))
            text += "".join(f["text"] for f in later)
        assert text == expected_text(120), "a gap or a duplicate after the snapshot"


async def test_stop_stops_both_sides(connect, alice, conversation, upstream: FakeUpstream):
    socket = await connect(alice, conversation.pk)
    first, second, _ = await start_comparison(socket)
    await socket.send_json_to({"type": "stop"})
    frames = await frames_until(socket, both_done({first, second}))
    ends = {f["message"]["id"]: f["message"]["status"] for f in frames if f["type"] == "done"}
    assert ends == {first: "stopped", second: "stopped"}


async def test_choosing_a_side_switches_to_it_and_closes_the_comparison(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    first, second, _ = await start_comparison(socket, text="[[fake tokens=30 delay=0.01]]")
    await frames_until(socket, both_done({first, second}))
    thread = await sync_to_async(Conversation.active_thread)(
        await Conversation.objects.aget(pk=conversation.pk)
    )
    assert thread[-1].pk == second
    assert thread[-1].compared is not None
    assert thread[-1].compared.pk == first
    assert (thread[-1].compared.branch_index, thread[-1].branch_index) == (1, 2)

    await socket.send_json_to({"type": "switch", "message_id": first})
    path = (await frames_until(socket, lambda f: f["type"] == "path"))[-1]
    assert path["leaf_id"] == first
    await conversation.arefresh_from_db()
    assert (conversation.current_leaf_id, conversation.compare_with_id) == (first, None)
    # Both stay versions of the answer: the branch switcher lists them.
    thread = await sync_to_async(conversation.active_thread)()
    assert (thread[-1].branch_index, thread[-1].branch_count, thread[-1].compared) == (1, 2, None)


async def test_a_new_message_after_a_comparison_closes_it(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    first, second, _ = await start_comparison(socket, text="[[fake tokens=5]]")
    await frames_until(socket, both_done({first, second}))
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]] go on"})
    await frames_until(socket, is_done)
    await conversation.arefresh_from_db()
    assert conversation.compare_with_id is None
    path = await sync_to_async(conversation.active_path)()
    assert path[1].pk == second, "the conversation goes on from the answer on the path"
