"""A reasoning model's thinking: read from both delta fields and from a leading
<think> block, streamed apart from the answer, stored apart, never sent back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from conversations import actions
from conversations.context import build_context
from conversations.models import Conversation, Message
from modelclient.providers import (
    ChatMessage,
    Delta,
    OpenAICompatible,
    ProviderConfig,
    aclose_clients,
)
from realtime import events
from streaming import generation
from streaming.registry import registry
from streaming.thinking import ThinkSplitter
from tests.upstream import FakeUpstream, expected_text, expected_thinking

# --- The splitter -----------------------------------------------------------------------


def split(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    answer, thinking = [], []
    for piece in pieces:
        a, t = splitter.feed(piece)
        answer.append(a)
        thinking.append(t)
    a, t = splitter.finish()
    return "".join(answer) + a, "".join(thinking) + t


def test_a_leading_block_is_thinking_and_the_rest_the_answer():
    assert split(["<think>hmm, 2+2</think>\n\nIt is 4."]) == ("It is 4.", "hmm, 2+2")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_tags_split_across_chunks_at_every_place_are_found(size):
    text = "\n<think>step one\nstep two</think>\n\nThe answer: <b>4</b>."
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    assert split(pieces) == ("The answer: <b>4</b>.", "step one\nstep two")


def test_only_a_leading_block_counts():
    text = "Use <think>tags</think> like this."
    assert split([text]) == (text, "")
    assert split(["Use <thi", "nk>x</think>"]) == ("Use <think>x</think>", "")


def test_a_text_that_only_looks_like_the_start_of_a_tag_is_the_answer():
    assert split(["<th", "is is not a tag"]) == ("<this is not a tag", "")
    assert split(["<thi"]) == ("<thi", "")  # the reply ended: the held piece was answer


def test_an_unclosed_block_at_the_end_stays_thinking():
    assert split(["<think>still thinking", " about it</th"]) == ("", "still thinking about it</th")


def test_the_answer_arrives_as_soon_as_the_block_closes():
    splitter = ThinkSplitter()
    assert splitter.feed("<think>a") == ("", "a")
    assert splitter.feed("b</thi") == ("", "b")
    assert splitter.thinking
    assert splitter.feed("nk>\n") == ("", "")
    assert splitter.feed("\nHi") == ("Hi", "")
    assert not splitter.thinking
    assert splitter.feed(" <think>") == (" <think>", "")


# --- The model client -------------------------------------------------------------------


def ask(text: str) -> list[ChatMessage]:
    return [{"role": "user", "content": text}]


@pytest.mark.asyncio
@pytest.mark.parametrize("form", ["field", "reasoning"])
async def test_the_client_reads_both_reasoning_fields(fake_upstream: FakeUpstream, form):
    client = OpenAICompatible(ProviderConfig(fake_upstream.base_url, "", 5.0))
    deltas: list[Delta] = []
    try:
        async for delta in client.stream_chat(
            model="fake-model", messages=ask(f"[[fake tokens=4 think=6 thinkform={form}]]")
        ):
            deltas.append(delta)
    finally:
        await aclose_clients()
    assert "".join(d.reasoning for d in deltas) == expected_thinking(6)
    assert "".join(d.text for d in deltas) == expected_text(4)
    # The thinking comes first, then the answer.
    first_text = next(i for i, d in enumerate(deltas) if d.text)
    assert all(not d.reasoning for d in deltas[first_text:])
    (usage,) = [d.usage for d in deltas if d.usage]
    assert usage["reasoning_tokens"] == 6
    assert usage["completion_tokens"] == 10


# --- Through the engine -----------------------------------------------------------------


async def run_answer(conversation: Conversation, text: str) -> tuple[Message, list[Any]]:
    layer = get_channel_layer()
    watcher = await layer.new_channel()
    await layer.group_add(events.conversation_group(conversation.pk), watcher)
    answer = await sync_to_async(actions.post_user_message)(conversation=conversation, text=text)
    task = await generation.start(answer.pk, conversation.pk)
    frames = []
    while True:
        event = await asyncio.wait_for(layer.receive(watcher), timeout=10)
        frames.append(event["frame"])
        if event["frame"]["type"] == "done":
            break
    await asyncio.wait_for(task, timeout=10)
    await answer.arefresh_from_db()
    return answer, frames


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("form", ["field", "reasoning", "tag"])
async def test_an_answer_keeps_its_thinking_apart(
    live, conversation, upstream: FakeUpstream, settings, form
):
    settings.DELTA_COALESCE_MS = 0
    answer, frames = await run_answer(
        conversation, f"[[fake tokens=5 think=7 thinkform={form} delay=0.01]]"
    )

    assert answer.status == Message.Status.DONE
    assert answer.content == expected_text(5)
    assert "<think>" not in answer.html
    assert answer.reasoning == expected_thinking(7)
    assert answer.reasoning_seconds is not None
    assert answer.reasoning_seconds >= 0
    assert answer.reasoning_tokens == 7
    deltas = [f for f in frames if f["type"] == "delta"]
    assert [f["seq"] for f in deltas] == list(range(1, len(deltas) + 1))
    assert "".join(f.get("reasoning", "") for f in deltas) == expected_thinking(7)
    assert "".join(f["text"] for f in deltas) == expected_text(5)
    # Every piece of thinking was sent before the first piece of the answer.
    first_text = next(i for i, f in enumerate(deltas) if f["text"])
    assert all("reasoning" not in f for f in deltas[first_text + 1 :])
    done = frames[-1]["message"]
    assert done["reasoning"] == expected_thinking(7)
    assert done["usage"]["reasoning_tokens"] == 7


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_thinking_is_never_sent_back_to_the_model(
    live, conversation, upstream: FakeUpstream
):
    first, _ = await run_answer(conversation, "[[fake tokens=3 think=4 thinkform=tag]]")
    assert first.reasoning == expected_thinking(4)
    await run_answer(conversation, "and then? [[fake tokens=2]]")

    sent = upstream.chat_requests[-1].json["messages"]
    assert {"role": "assistant", "content": expected_text(3)} in sent
    replies = [m["content"] for m in sent if m["role"] == "assistant"]
    assert replies == [expected_text(3)]
    await conversation.arefresh_from_db()
    context = await sync_to_async(build_context)(conversation, first)
    assert all("t3" not in m["content"] for m in context)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_snapshot_mid_thinking_carries_the_thinking_so_far(
    live, conversation, upstream: FakeUpstream, settings
):
    settings.DELTA_COALESCE_MS = 0
    layer = get_channel_layer()
    watcher = await layer.new_channel()
    await layer.group_add(events.conversation_group(conversation.pk), watcher)
    answer = await sync_to_async(actions.post_user_message)(
        conversation=conversation, text="[[fake tokens=2 think=3 hang_after=0]]"
    )
    task = await generation.start(answer.pk, conversation.pk)
    reasoning = ""
    while reasoning != expected_thinking(3):
        event = await asyncio.wait_for(layer.receive(watcher), timeout=10)
        reasoning += event["frame"].get("reasoning", "")
    running = registry.running[answer.pk][0]
    assert isinstance(running, generation.Generation)
    snapshot = running.snapshot()
    assert snapshot is not None
    assert snapshot["reasoning"] == expected_thinking(3)
    assert snapshot["content"] == ""
    running.stop()
    await asyncio.wait_for(task, timeout=10)
    await answer.arefresh_from_db()
    assert (answer.status, answer.reasoning) == (Message.Status.STOPPED, expected_thinking(3))
