"""The catalog in a real run: two providers on two ports, permissions over the socket,
context fitted to a tiny window, usage rows for every upstream request, quotas refusing
before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from catalog.models import ChatModel, Quota, UsageRecord
from conversations.models import Conversation, Message
from tests.conftest import frames_until, is_done
from tests.upstream import FakeUpstream, expected_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def is_error(frame: dict[str, Any]) -> bool:
    return bool(frame["type"] == "error")


@sync_to_async
def chat(user, model: str) -> Conversation:
    return Conversation.objects.create(user=user, title="New chat", model=model)


@sync_to_async
def usage_rows() -> list[UsageRecord]:
    return list(UsageRecord.objects.order_by("id"))


async def test_each_model_is_reached_on_its_own_provider_with_its_parameters(
    connect, alice, catalog_models, fake_upstream: FakeUpstream, keyed_upstream: FakeUpstream
):
    conversation = await chat(alice, "llama")
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=3]] hi"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["status"] == "done"
    assert done["model"] == "llama"
    (request,) = fake_upstream.chat_requests
    assert request.body["model"] == "fake-model"
    assert request.body["max_tokens"] == 512
    assert "temperature" not in request.body
    assert "authorization" not in request.headers
    assert keyed_upstream.chat_requests == []

    await socket.send_json_to(
        {"type": "send", "text": "[[fake tokens=3]] again", "model": "gpt-4o"}
    )
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["status"] == "done", done
    (request,) = keyed_upstream.chat_requests
    assert request.body["model"] == "gpt-4o"
    assert request.body["max_tokens"] == 4096
    assert request.body["temperature"] == 0.3
    assert request.headers["openai-organization"] == "org-test"
    assert len(fake_upstream.chat_requests) == 1


async def test_a_crafted_frame_cannot_use_a_model_not_granted(
    connect, bob, catalog_models, keyed_upstream: FakeUpstream
):
    conversation = await chat(bob, "llama")
    socket = await connect(bob, conversation.pk)
    for frame in [
        {"type": "send", "text": "hi", "model": "gpt-4o"},
        {"type": "send", "text": "hi", "model": "no-such-model"},
        {"type": "send", "text": "hi", "model": ["gpt-4o"]},
        {"type": "regenerate", "model": "gpt-4o"},
    ]:
        await socket.send_json_to(frame)
        error = (await frames_until(socket, is_error))[-1]
        assert error["code"] in {"unknown_model", "nothing_to_regenerate"}, error
    assert await Message.objects.acount() == 0
    assert keyed_upstream.chat_requests == []
    await conversation.arefresh_from_db()
    assert conversation.model == "llama"


async def test_the_settings_form_cannot_choose_a_model_not_granted(bob, catalog_models):
    from django.test import AsyncClient

    conversation = await chat(bob, "llama")
    client = AsyncClient()
    await sync_to_async(client.force_login)(bob)
    response = await client.post(f"/c/{conversation.pk}/settings/", {"model": "gpt-4o"})
    assert response.status_code in {200, 302, 400}
    await conversation.arefresh_from_db()
    assert conversation.model == "llama"


@sync_to_async
def long_history(conversation: Conversation) -> list[Message]:
    """Two exchanges: an old one of ~400 tokens each side, a short recent one."""
    made: list[Message] = []
    parent = None
    for question, answer in [("old question " + "word " * 400, "old answer " + "word " * 400),
                             ("recent question", "recent answer")]:  # fmt: skip
        q = Message.objects.create(
            conversation=conversation, parent=parent, role="user", content=question
        )
        a = Message.objects.create(
            conversation=conversation, parent=q, role="assistant", content=answer
        )
        made += [q, a]
        parent = a
    conversation.current_leaf = parent
    conversation.save()
    return made


async def test_the_history_is_fitted_to_the_models_window_minus_its_output_budget(
    connect, alice, ollama, fake_upstream: FakeUpstream, settings
):
    settings.SYSTEM_PROMPT = "Be brief."
    await ChatModel.objects.acreate(
        provider=ollama, model_id="fake-model", name="tiny", context_window=700,
        max_output_tokens=500,
    )  # fmt: skip
    conversation = await chat(alice, "tiny")
    old_q, _old_a, recent_q, _recent_a = await long_history(conversation)
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]] newest"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["status"] == "done"
    (request,) = fake_upstream.chat_requests
    assert request.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "recent question"},
        {"role": "assistant", "content": "recent answer"},
        {"role": "user", "content": "[[fake tokens=2]] newest"},
    ]
    # 700 - 500 leaves 200 tokens: the old answer (~400) alone would fit the bare window.
    assert request.body["max_tokens"] == 500
    answer = await Message.objects.aget(pk=done["id"])
    assert answer.context_from_id == recent_q.pk
    assert done["context_from_id"] == recent_q.pk  # chat.js moves the mark there

    # The page marks where older messages left the model's view: right before recent_q.
    from django.test import AsyncClient

    client = AsyncClient()
    await sync_to_async(client.force_login)(alice)
    page = (await client.get(f"/c/{conversation.pk}/")).content.decode()
    cut = page.index('class="context-cut"')
    assert page.index("old question") < cut < page.index("recent question")

    # A bigger window sends everything, and no mark is shown.
    # Saved as the admin saves it: the catalog's in-memory copy is dropped (catalog.snapshot).
    tiny = await ChatModel.objects.aget(name="tiny")
    tiny.context_window = 5000
    await tiny.asave()
    fake_upstream.reset()
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]] more"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    (request,) = fake_upstream.chat_requests
    assert request.body["messages"][1]["content"] == old_q.content
    assert (await Message.objects.aget(pk=done["id"])).context_from_id is None


async def test_a_stopped_answer_records_its_estimated_usage(
    connect, alice, catalog_models, fake_upstream: FakeUpstream
):
    from catalog import tokens

    conversation = await chat(alice, "llama")
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=500 delay=0.01]]"})
    await frames_until(socket, lambda f: f["type"] == "delta")
    await socket.send_json_to({"type": "stop"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["status"] == "stopped"
    (row,) = await usage_rows()
    assert (row.kind, row.outcome, row.estimated) == ("answer", "stopped", True)
    assert (row.username, row.provider, row.model) == ("alice", "ollama", "llama")
    assert row.completion_tokens == tokens.count(done["content"]) > 0
    (request,) = fake_upstream.chat_requests
    assert row.prompt_tokens == tokens.count_messages(request.body["messages"])
    assert row.message_id == done["id"]
    assert row.conversation_id == conversation.pk


async def test_continuations_and_the_title_each_record_the_upstreams_usage(
    connect, alice, catalog_models, keyed_upstream: FakeUpstream, settings
):
    settings.AUTO_TITLE = True
    conversation = await chat(alice, "gpt-4o")
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=4 length_rounds=2]] go"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["content"] == "".join(expected_text(4, r) for r in range(3))
    await frames_until(socket, lambda f: f["type"] == "title")
    rows = await usage_rows()
    assert [(r.kind, r.outcome, r.estimated) for r in rows] == [
        ("answer", "done", False),
        ("continuation", "done", False),
        ("continuation", "done", False),
        ("title", "done", False),
    ]
    requests = keyed_upstream.chat_requests
    assert [r.body["model"] for r in requests] == ["gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini"]
    assert [r.completion_tokens for r in rows[:3]] == [4, 4, 4]
    assert sum(r.total_tokens for r in rows[:3]) == done["usage"]["total_tokens"]
    assert rows[3].model == "gpt-4o-mini"  # the provider's title model, by its catalog name


async def test_a_failed_answer_records_usage_too(connect, alice, catalog_models):
    conversation = await chat(alice, "llama")
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake status=500]]"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["status"] == "error"
    (row,) = await usage_rows()
    assert (row.kind, row.outcome, row.estimated, row.completion_tokens) == (
        "answer", "error", True, 0,
    )  # fmt: skip


async def test_over_quota_nothing_is_sent_and_the_error_says_which_limit_and_when(
    connect, alice, catalog_models, fake_upstream: FakeUpstream
):
    from catalog import usage

    await Quota.objects.acreate(user=alice, tokens_per_day=100)
    await sync_to_async(usage.record)(
        user_id=alice.pk, username="alice", provider="ollama", model="llama", kind="answer",
        outcome="done", prompt_tokens=90, completion_tokens=10, estimated=False,
    )  # fmt: skip
    conversation = await chat(alice, "llama")
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]] hi"})
    error = (await frames_until(socket, is_error))[-1]
    assert error["code"] == "quota_tokens_day"
    assert "100 tokens per day" in error["message"]
    assert "It resets at" in error["message"]
    assert fake_upstream.chat_requests == []
    assert await Message.objects.acount() == 0


async def test_concurrent_answers_are_a_quota_across_conversations(
    connect, alice, catalog_models, fake_upstream: FakeUpstream
):
    await Quota.objects.acreate(user=alice, concurrent_answers=1)
    first, second = await chat(alice, "llama"), await chat(alice, "llama")
    one = await connect(alice, first.pk)
    two = await connect(alice, second.pk)
    await one.send_json_to({"type": "send", "text": "[[fake tokens=300 delay=0.01]]"})
    await frames_until(one, lambda f: f["type"] == "delta")
    await two.send_json_to({"type": "send", "text": "[[fake tokens=2]]"})
    error = (await frames_until(two, is_error))[-1]
    assert error["code"] == "too_many_answers"
    await one.send_json_to({"type": "stop"})
    await frames_until(one, is_done)
    await two.send_json_to({"type": "send", "text": "[[fake tokens=2]]"})
    assert (await frames_until(two, is_done))[-1]["message"]["status"] == "done"
