"""The conversation socket through the real ASGI application and a real local upstream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from conversations.models import Conversation, Message
from realtime import events
from streaming.registry import registry
from tests.conftest import frames_until, is_done
from tests.upstream import FakeUpstream, clean_token_text, expected_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def deltas(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == "delta"]


def joined(frames: list[dict[str, Any]]) -> str:
    return "".join(f["text"] for f in deltas(frames))


async def get_answer(conversation: Conversation) -> Message:
    return await Message.objects.filter(
        conversation=conversation, role=Message.Role.ASSISTANT
    ).alatest("created_at")


async def test_a_sent_message_streams_deltas_then_done_and_is_saved(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=20]] hello"})
    frames = await frames_until(socket, is_done)

    kinds = [f["type"] for f in frames]
    assert kinds[0] == "title"
    created = [f["message"] for f in frames if f["type"] == "message"]
    assert [m["role"] for m in created] == ["user", "assistant"]
    assert created[0]["content"] == "[[fake tokens=20]] hello"
    assert [f["seq"] for f in deltas(frames)] == list(range(1, len(deltas(frames)) + 1))
    assert joined(frames) == expected_text(20)
    done = frames[-1]["message"]
    assert done["status"] == "done"
    assert done["content"] == expected_text(20)
    assert done["finish_reason"] == "stop"
    assert done["usage"]["completion_tokens"] == 20

    answer = await get_answer(conversation)
    assert answer.status == Message.Status.DONE
    assert answer.content == expected_text(20)
    assert answer.html.startswith("<p>")
    assert answer.parent_id is not None
    user_message = await Message.objects.aget(pk=answer.parent_id)
    assert user_message.content == "[[fake tokens=20]] hello"


async def first_delta(socket) -> list[dict[str, Any]]:
    return await frames_until(socket, lambda f: f["type"] == "delta")


async def test_stop_closes_the_upstream_request_and_keeps_the_text(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=500 delay=0.01]]"})
    frames = await first_delta(socket)
    await socket.send_json_to({"type": "stop"})
    frames += await frames_until(socket, is_done)

    done = frames[-1]["message"]
    assert done["status"] == "stopped"
    assert done["finish_reason"] is None
    assert done["content"] == joined(frames)
    assert expected_text(500).startswith(done["content"])
    assert 0 < len(done["content"]) < len(expected_text(500))
    request = upstream.chat_requests[0]
    assert await asyncio.to_thread(request.finished.wait, 3)
    assert request.client_disconnected, "the upstream kept streaming after Stop"
    assert request.tokens_sent < 500
    answer = await get_answer(conversation)
    assert answer.status == Message.Status.STOPPED
    assert answer.content == done["content"]


async def test_stop_from_a_second_tab_stops_the_answer(
    connect, alice, conversation, upstream: FakeUpstream
):
    first = await connect(alice, conversation.pk)
    second = await connect(alice, conversation.pk)
    await first.send_json_to({"type": "send", "text": "[[fake tokens=500 delay=0.01]]"})
    await first_delta(second)
    await second.send_json_to({"type": "stop"})
    for socket in (first, second):
        frames = await frames_until(socket, is_done)
        assert frames[-1]["message"]["status"] == "stopped"


async def test_a_second_tab_sees_the_same_stream(
    connect, alice, conversation, upstream: FakeUpstream
):
    first = await connect(alice, conversation.pk)
    second = await connect(alice, conversation.pk)
    await first.send_json_to({"type": "send", "text": "[[fake tokens=60 delay=0.005]]"})
    seen_first = await frames_until(first, is_done)
    seen_second = await frames_until(second, is_done)
    assert deltas(seen_first) == deltas(seen_second)
    assert joined(seen_second) == expected_text(60)
    assert [f["message"]["role"] for f in seen_second if f["type"] == "message"] == [
        "user",
        "assistant",
    ]


def apply_protocol(frames: list[dict[str, Any]]) -> tuple[str, list[int]]:
    """The client algorithm of docs/protocol.md: returns the text and the seqs applied."""
    text, last, aside, applied = "", None, [], []
    for frame in frames:
        if frame["type"] == "delta":
            if last is None or frame["seq"] > last + 1:
                aside.append(frame)
            elif frame["seq"] == last + 1:
                text += frame["text"]
                last = frame["seq"]
                applied.append(last)
        elif frame["type"] == "snapshot":
            text, last = frame["message"]["content"], frame["message"]["seq"]
            for kept in sorted(aside, key=lambda f: f["seq"]):
                if kept["seq"] == last + 1:
                    text += kept["text"]
                    last = kept["seq"]
                    applied.append(last)
            aside = []
        elif frame["type"] == "done":
            text = frame["message"]["content"]
    return text, applied


async def test_reconnecting_mid_answer_gets_a_snapshot_then_the_rest_exactly_once(
    connect, alice, conversation, upstream: FakeUpstream
):
    layer = get_channel_layer()
    watcher = await layer.new_channel()  # sees what the socket misses (reads no frame)
    await layer.group_add(events.conversation_group(conversation.pk), watcher)
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=150 delay=0.01]]"})
    await first_delta(socket)
    await socket.disconnect()
    # Deltas flow while nobody listens: wait for the second one (not for some time).
    while True:
        frame = (await asyncio.wait_for(layer.receive(watcher), timeout=10))["frame"]
        if frame["type"] == "delta" and frame["seq"] >= 2:
            break

    again = await connect(alice, conversation.pk)
    await again.send_json_to({"type": "sync"})
    frames = await frames_until(again, is_done)

    snapshot = next(f for f in frames if f["type"] == "snapshot")["message"]
    assert snapshot["status"] == "streaming"
    assert snapshot["seq"] >= 2
    assert expected_text(150).startswith(snapshot["content"])
    live_text = snapshot["content"] + "".join(
        f["text"] for f in deltas(frames) if f["seq"] > snapshot["seq"]
    )
    assert live_text == expected_text(150), "a gap or a duplicate after the snapshot"
    text, applied = apply_protocol(frames)
    assert text == expected_text(150)
    assert len(applied) == len(set(applied))


async def test_sync_after_the_answer_ended_returns_the_stored_answer(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=5]]"})
    await frames_until(socket, is_done)
    await socket.send_json_to({"type": "sync"})
    snapshot = await socket.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    assert snapshot["message"]["status"] == "done"
    assert snapshot["message"]["content"] == expected_text(5)
    assert snapshot["message"]["seq"] is None


async def test_closing_every_tab_does_not_stop_the_answer(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=80 delay=0.005]]"})
    await first_delta(socket)
    await socket.disconnect()
    tasks = [task for _, task in registry.running.values()]
    assert tasks, "the answer should still be running"
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    answer = await get_answer(conversation)
    assert answer.status == Message.Status.DONE
    assert answer.content == expected_text(80)


async def test_length_cut_replies_continue_and_are_stored_whole(
    connect, alice, conversation, upstream: FakeUpstream, settings
):
    settings.MAX_CONTINUATIONS = 3
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=5 length_rounds=3]]"})
    frames = await frames_until(socket, is_done)

    whole = "".join(expected_text(5, round) for round in range(4))
    assert joined(frames) == whole
    done = frames[-1]["message"]
    assert done["content"] == whole
    assert done["finish_reason"] == "stop"
    assert done["usage"]["completion_tokens"] == 20
    requests = upstream.chat_requests
    assert len(requests) == 4
    # Each continuation resends the partial answer, then asks to go on.
    continued = requests[3].body["messages"]
    assert continued[-2] == {
        "role": "assistant",
        "content": "".join(expected_text(5, r) for r in range(3)),
    }
    assert continued[-1]["role"] == "user"
    assert (await get_answer(conversation)).content == whole


async def test_continuation_stops_after_the_configured_rounds(
    connect, alice, conversation, upstream: FakeUpstream, settings
):
    settings.MAX_CONTINUATIONS = 1
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=4 length_rounds=5]]"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["finish_reason"] == "length"
    assert done["content"] == expected_text(4, 0) + expected_text(4, 1)
    assert len(upstream.chat_requests) == 2


@pytest.mark.parametrize(
    ("directive", "code", "words", "partial_tokens"),
    [
        ("status=500", "upstream_http_error", "500", 0),
        ("hang_after=3", "upstream_timeout", "", 3),
        ("drop_after=5", "upstream_disconnected", "", 5),
        ("reset_after=5", "upstream_disconnected", "", 5),
        ("end_after=4", "upstream_disconnected", "", 4),
        ("error_event_after=3", "upstream_stream_error", "Fake stream error", 3),
    ],
)
async def test_upstream_faults_end_the_answer_with_a_clear_error_and_keep_the_text(
    connect, alice, conversation, upstream: FakeUpstream, settings,
    directive, code, words, partial_tokens,
):  # fmt: skip
    settings.TIMEOUT_MS = 600
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": f"[[fake tokens=50 {directive}]]"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["status"] == "error"
    assert done["error_code"] == code
    assert done["error"]
    assert words in done["error"]
    assert done["content"] == expected_text(partial_tokens)
    assert "sk-test-secret-key-never-shown" not in str(done)
    answer = await get_answer(conversation)
    assert (answer.status, answer.error_code, answer.content) == (
        Message.Status.ERROR, code, expected_text(partial_tokens)
    )  # fmt: skip

    # The app keeps serving: the next message in the same conversation works.
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=3]]"})
    again = (await frames_until(socket, is_done))[-1]["message"]
    assert again["status"] == "done"


async def test_no_provider_configured_ends_the_answer_telling_what_to_set(
    connect, alice, conversation, settings
):
    settings.OPENAI_API_BASE_URL = ""
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "hello"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["status"] == "error"
    assert done["error_code"] == "not_configured"
    assert "OPENAI_API_KEY" in done["error"]
    assert await Message.objects.filter(role="user", content="hello").aexists()


async def test_cjk_split_across_reads_arrives_intact(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=30 cjk=1]]"})
    frames = await frames_until(socket, is_done)
    assert joined(frames) == expected_text(30, cjk=True)
    assert (await get_answer(conversation)).content == expected_text(30, cjk=True)


async def test_a_300_token_answer_costs_few_writes_and_few_frames(
    connect, alice, conversation, upstream: FakeUpstream, settings, sql_writes
):
    settings.CHECKPOINT_SECONDS = 1.0
    settings.DELTA_COALESCE_MS = 50
    socket = await connect(alice, conversation.pk)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=300 delay=0.01]]"})
    frames = await frames_until(socket, is_done, timeout=20)
    elapsed = loop.time() - started

    assert joined(frames) == expected_text(300)
    # Two inserts (user message, answer, created live by this process: no claim), a
    # checkpoint at most once a second (none right before the end), the end: never one
    # per token.
    assert len(sql_writes) <= 3 + int(elapsed / settings.CHECKPOINT_SECONDS), sql_writes
    # The first delta at once, then at most one per window.
    window = settings.DELTA_COALESCE_MS / 1000
    assert len(deltas(frames)) <= 1 + elapsed / window, "deltas should be coalesced into windows"


async def test_sending_while_an_answer_streams_is_refused_and_writes_nothing(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=200 delay=0.01]]"})
    await first_delta(socket)
    before = await Message.objects.acount()
    await socket.send_json_to({"type": "send", "text": "another"})
    error = await frames_until(socket, lambda f: f["type"] == "error")
    assert error[-1]["code"] == "busy"
    assert error[-1]["request"] == "send"
    assert await Message.objects.acount() == before
    await socket.send_json_to({"type": "stop"})
    await frames_until(socket, is_done)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_frame"),
        ('["a list"]', "bad_frame"),
        ('{"type": "launch"}', "bad_frame"),
        ('{"type": "send", "text": "   "}', "empty_text"),
        ('{"type": "send", "text": 42}', "empty_text"),
        ('{"type": "send", "text": "\\u0000 \\u0000"}', "empty_text"),
        ("[" * 50_000 + "]" * 50_000, "bad_frame"),
        ('{"type": "send", "text": ' + "[" * 50_000 + "]" * 50_000 + "}", "bad_frame"),
        ('{"type": "send", "text": "hi", "model": "gpt-nope"}', "unknown_model"),
        ('{"type": "stop"}', "not_streaming"),
        ('{"type": "regenerate"}', "nothing_to_regenerate"),
    ],
)
async def test_bad_frames_get_an_error_frame_write_nothing_and_keep_the_socket(
    connect, alice, conversation, upstream: FakeUpstream, frame, code
):
    socket = await connect(alice, conversation.pk)
    await socket.send_to(text_data=frame)
    error = await socket.receive_json_from(timeout=5)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    assert await Message.objects.acount() == 0
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]]"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["status"] == "done"


async def test_nul_and_lone_surrogates_are_stored_cleaned_from_user_and_model(
    connect, alice, conversation, upstream: FakeUpstream
):
    # U+0000 and lone surrogates: PostgreSQL refuses the first, no driver encodes the
    # second. From the user (JSON escapes) and from the model (nul=1), they are cleaned.
    socket = await connect(alice, conversation.pk)
    await socket.send_to(
        text_data='{"type": "send", "text": "a\\u0000b \\ud800 [[fake tokens=3 nul=1]]"}'
    )
    frames = await frames_until(socket, is_done)

    user_text = "ab \ufffd [[fake tokens=3 nul=1]]"
    created = [f["message"] for f in frames if f["type"] == "message"]
    assert created[0]["content"] == user_text
    expected = "".join(clean_token_text(i) for i in range(3))
    done = frames[-1]["message"]
    assert (done["status"], done["content"]) == ("done", expected)
    answer = await get_answer(conversation)
    assert (answer.status, answer.content) == (Message.Status.DONE, expected)
    assert answer.parent_id is not None
    assert (await Message.objects.aget(pk=answer.parent_id)).content == user_text
    await conversation.arefresh_from_db()
    assert "\x00" not in conversation.title


async def test_too_long_text_is_refused(connect, alice, conversation, upstream: FakeUpstream):
    from conversations.actions import MAX_MESSAGE_CHARS

    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "x" * (MAX_MESSAGE_CHARS + 1)})
    error = await socket.receive_json_from(timeout=5)
    assert error["code"] == "too_long"
    assert await Message.objects.acount() == 0


async def test_rate_limit_refuses_past_max_requests_per_hour(
    connect, alice, conversation, upstream: FakeUpstream, settings
):
    settings.MAX_REQUEST_PER_HOUR = 1
    from django.core.cache import cache

    await sync_to_async(cache.clear)()
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]]"})
    await frames_until(socket, is_done)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]]"})
    error = await frames_until(socket, lambda f: f["type"] == "error")
    assert error[-1]["code"] == "rate_limited"
    assert await Message.objects.filter(role="user").acount() == 1


async def test_regenerate_makes_a_new_answer_and_keeps_the_old_one(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=3]]"})
    first = (await frames_until(socket, is_done))[-1]["message"]
    await socket.send_json_to({"type": "regenerate"})
    frames = await frames_until(socket, is_done)
    second = frames[-1]["message"]
    assert second["id"] != first["id"]
    assert second["parent_id"] == first["parent_id"]
    assert second["content"] == expected_text(3)
    await conversation.arefresh_from_db()
    path = await sync_to_async(conversation.active_path)()
    assert [m.pk for m in path][-1] == second["id"]
    assert await Message.objects.filter(pk=first["id"]).aexists()
    # The regenerated request carries the same history: system + the user message.
    assert upstream.chat_requests[1].body["messages"] == upstream.chat_requests[0].body["messages"]


async def test_the_model_gets_history_from_the_database_and_the_system_prompt(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    for text in ("[[fake tokens=2]] one", "[[fake tokens=3]] two"):
        await socket.send_json_to({"type": "send", "text": text})
        await frames_until(socket, is_done)
    sent = upstream.chat_requests[1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "[[fake tokens=2]] one"
    assert sent[2]["content"] == expected_text(2)
    assert upstream.chat_requests[1].body["model"] == "fake-model"


async def test_context_off_sends_only_the_new_message(
    connect, alice, conversation, upstream: FakeUpstream, settings
):
    settings.SYSTEM_PROMPT = "Be brief."
    conversation.context_enabled = False
    conversation.system_prompt = "Answer like a pirate."
    await conversation.asave()
    socket = await connect(alice, conversation.pk)
    for text in ("[[fake tokens=2]] one", "[[fake tokens=3]] two"):
        await socket.send_json_to({"type": "send", "text": text})
        await frames_until(socket, is_done)
    sent = upstream.chat_requests[1].body["messages"]
    assert sent == [
        {"role": "system", "content": "Be brief.\n\nAnswer like a pirate."},
        {"role": "user", "content": "[[fake tokens=3]] two"},
    ]


async def test_the_model_picker_choice_is_used_and_remembered(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to(
        {"type": "send", "text": "[[fake tokens=2]]", "model": "fake-model-2"}
    )
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["model"] == "fake-model-2"
    assert upstream.chat_requests[0].body["model"] == "fake-model-2"
    await conversation.arefresh_from_db()
    assert conversation.model == "fake-model-2"


async def test_the_api_key_goes_upstream_but_never_into_a_frame_or_a_log_line(
    connect, alice, conversation, upstream: FakeUpstream, caplog
):
    caplog.set_level("DEBUG")
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=3 status=401]]"})
    frames = await frames_until(socket, is_done)
    assert upstream.chat_requests[0].headers["authorization"] == (
        "Bearer sk-test-secret-key-never-shown"
    )
    assert "sk-test-secret-key-never-shown" not in str(frames)
    # The fake upstream echoes the key in its 401 body, as OpenAI does (masked there).
    assert "sk-test-secret-key-never-shown" in upstream.chat_requests[0].headers["authorization"]
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert caplog.records, "nothing was logged at DEBUG: the check would be empty"
    assert "sk-test-secret-key-never-shown" not in logged


async def test_a_model_made_title_replaces_the_first_message_title(
    connect, alice, conversation, upstream: FakeUpstream, settings
):
    settings.AUTO_TITLE = True
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]] tell me about owls"})
    titles = await frames_until(socket, lambda f: f["type"] == "title" and "[[" not in f["title"])
    assert titles[0] == {
        "type": "title", "conversation_id": conversation.pk,
        "title": "[[fake tokens=2]] tell me about owls",
    }  # fmt: skip
    await conversation.arefresh_from_db()
    # The fake model answers "Title: tell me about owls"; the preamble is dropped.
    assert conversation.title == titles[-1]["title"] == "tell me about owls"


async def test_a_first_answer_and_its_title_cost_seven_write_statements(
    connect, alice, conversation, upstream: FakeUpstream, settings, monkeypatch
):
    """Counted as the bench counts them: every INSERT/UPDATE/DELETE, on any table."""
    from django.db.backends import utils

    from catalog.models import UsageRecord

    settings.AUTO_TITLE = True
    writes: list[str] = []
    original = utils.CursorWrapper.execute

    def execute(self: Any, sql: str, params: Any = None) -> Any:
        if sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(sql)
        return original(self, sql, params)

    socket = await connect(alice, conversation.pk)
    monkeypatch.setattr(utils.CursorWrapper, "execute", execute)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]] tell me about owls"})
    await frames_until(socket, is_done)
    await frames_until(socket, lambda f: f["type"] == "title" and "[[" not in f["title"])
    # The user message, the answer, the conversation; the answer's end with its usage row
    # (written with the end, so quotas never wait for the title); the title's usage row
    # and the title.
    assert len(writes) == 7, writes
    rows = [(r.kind, r.outcome) async for r in UsageRecord.objects.order_by("id")]
    assert rows == [("answer", "done"), ("title", "done")]


async def test_connecting_reads_ownership_title_and_language_in_one_query(
    connect, alice, conversation, monkeypatch
):
    from django.db.backends import utils

    from accounts.models import UserSettings

    await UserSettings.objects.acreate(user=alice, language="zh-hans")
    statements: list[str] = []
    original = utils.CursorWrapper.execute

    def execute(self: Any, sql: str, params: Any = None) -> Any:
        statements.append(sql)
        return original(self, sql, params)

    monkeypatch.setattr(utils.CursorWrapper, "execute", execute)
    socket = await connect(alice, conversation.pk)  # it reads the title frame too
    await socket.send_json_to({"type": "nonsense"})
    error = await socket.receive_json_from(timeout=5)
    assert error["code"] == "bad_frame"
    assert not error["message"].isascii()  # in alice's language, Chinese
    # Past authentication (the session and the user), one query.
    mine = [sql for sql in statements if "conversations_conversation" in sql]
    assert len(mine) == 1, statements
    assert "accounts_usersettings" in mine[0]


async def test_an_unauthenticated_socket_is_closed_with_4401(connect, conversation):
    # Accepted, then closed with the code: a refused handshake reaches a browser as 1006.
    socket = await connect(None, conversation.pk)
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


async def test_another_users_conversation_is_closed_with_4404(connect, bob, conversation):
    socket = await connect(bob, conversation.pk)
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


def publish_while_opening(
    monkeypatch: pytest.MonkeyPatch, group: str, event: events.ForwardEvent | events.CloseEvent
) -> None:
    """Make the consumer's title read publish `event` to `group` and let it arrive first:
    the channel layer's events are handled beside connect (ConversationConsumer.__call__)."""
    from streaming.consumers import ConversationConsumer

    original = ConversationConsumer._open

    def _open(self: ConversationConsumer, *args: Any) -> Any:
        async_to_sync(get_channel_layer().group_send)(group, event)
        time.sleep(0.3)  # the events loop takes it meanwhile
        return original(self, *args)

    monkeypatch.setattr(ConversationConsumer, "_open", _open)


async def test_a_frame_published_while_the_socket_opens_comes_after_the_title(
    connect, alice, conversation, monkeypatch
):
    # A frame can reach the socket before the accept; sent then, the handshake breaks.
    renamed = events.title_frame(conversation.pk, "Renamed meanwhile")
    publish_while_opening(
        monkeypatch, events.conversation_group(conversation.pk), events.forward(renamed)
    )
    socket = await connect(alice, conversation.pk)  # accepted; it reads the title frame
    assert await socket.receive_json_from(timeout=5) == renamed


async def test_a_sign_out_while_the_socket_opens_closes_it_with_4401(
    connect, alice, conversation, monkeypatch
):
    publish_while_opening(
        monkeypatch, events.user_group(alice.pk), events.close_event(events.CLOSE_SIGNED_OUT)
    )
    socket = await connect(alice, conversation.pk)  # accepted, then closed with the code
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


async def test_a_foreign_origin_is_refused(connect, alice, conversation):
    connected, _ = await connect(alice, conversation.pk, expect=False, origin=b"http://evil.test")
    assert not connected


async def test_sync_ends_an_answer_this_instance_left_streaming_before_a_restart(
    connect, alice, conversation, settings
):
    # A daphne restarted without recover_streams: the answer is this instance's, its
    # checkpoint is fresh, but nothing here runs it. Nobody would answer the snapshot.
    question = await Message.objects.acreate(conversation=conversation, role="user", content="q")
    answer = await Message.objects.acreate(
        conversation=conversation, parent=question, role="assistant", content="half an",
        status=Message.Status.STREAMING, worker=settings.INSTANCE_ID,
    )  # fmt: skip
    conversation.current_leaf = answer
    await conversation.asave()
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "sync"})
    frames = await frames_until(socket, lambda f: f["type"] == "snapshot", timeout=5)
    snapshot = frames[-1]["message"]
    assert (snapshot["status"], snapshot["content"]) == ("interrupted", "half an")
    await answer.arefresh_from_db()
    assert answer.status == Message.Status.INTERRUPTED


async def test_deleting_a_conversation_stops_its_answer_and_the_upstream_request(
    connect, alice, conversation, upstream: FakeUpstream, caplog
):
    from django.test import AsyncClient

    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=500 delay=0.01]]"})
    await first_delta(socket)
    tasks = [task for _, task in registry.running.values()]
    client = AsyncClient()
    await client.aforce_login(alice)
    response = await client.post(f"/c/{conversation.pk}/delete/")
    assert response.status_code == 302

    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    request = upstream.chat_requests[0]
    assert await asyncio.to_thread(request.finished.wait, 3)
    assert request.client_disconnected
    assert request.tokens_sent < 500
    assert not await Message.objects.filter(conversation_id=conversation.pk).aexists()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


@pytest.mark.parametrize("frame", [{"type": "send", "text": "hi"}, {"type": "sync"},
                                   {"type": "regenerate"}])  # fmt: skip
async def test_a_tab_left_open_on_a_deleted_conversation_gets_an_error_not_a_crash(
    connect, alice, conversation, frame
):
    socket = await connect(alice, conversation.pk)
    await conversation.adelete()
    await socket.send_json_to(frame)
    error = await socket.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", "not_found")
    await socket.send_json_to({"type": "sync"})  # the socket is still usable
    assert (await socket.receive_json_from(timeout=5))["code"] == "not_found"


async def test_edit_resends_on_a_new_branch_and_the_model_sees_only_that_path(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    for text in ("[[fake tokens=2]] first", "[[fake tokens=3]] second"):
        await socket.send_json_to({"type": "send", "text": text})
        await frames_until(socket, is_done)
    first_question = (await Message.objects.filter(role="user").afirst()).pk  # type: ignore[union-attr]

    await socket.send_json_to(
        {"type": "edit", "message_id": first_question, "text": "[[fake tokens=4]] edited"}
    )
    frames = await frames_until(socket, is_done)

    created = [f["message"] for f in frames if f["type"] == "message"]
    assert [(m["role"], m["parent_id"]) for m in created] == [
        ("user", None),
        ("assistant", created[0]["id"]),
    ]
    assert {
        "type": "path",
        "conversation_id": conversation.pk,
        "leaf_id": created[1]["id"],
    } in frames
    sent = upstream.chat_requests[2].body["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [("user", "[[fake tokens=4]] edited")]

    # Back to the first version: its whole continuation, and the next answer's context.
    await socket.send_json_to({"type": "switch", "message_id": first_question})
    path_frame = await frames_until(socket, lambda f: f["type"] == "path")
    await conversation.arefresh_from_db()
    path = await sync_to_async(conversation.active_path)()
    assert [m.content for m in path][::2] == ["[[fake tokens=2]] first", "[[fake tokens=3]] second"]
    assert path_frame[-1]["leaf_id"] == path[-1].pk
    await socket.send_json_to({"type": "regenerate", "message_id": path[1].pk})
    await frames_until(socket, is_done)
    sent = upstream.chat_requests[3].body["messages"]
    assert [m["content"] for m in sent[1:]] == ["[[fake tokens=2]] first"]


async def test_delete_over_the_socket_removes_the_message_and_what_follows(
    connect, alice, conversation, upstream: FakeUpstream
):
    socket = await connect(alice, conversation.pk)
    other_tab = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]] only"})
    await frames_until(socket, is_done)
    question = await Message.objects.aget(role="user")

    await socket.send_json_to({"type": "delete", "message_id": question.pk})

    frames = await frames_until(other_tab, lambda f: f["type"] == "path")
    assert frames[-1] == {"type": "path", "conversation_id": conversation.pk, "leaf_id": None}
    assert not await Message.objects.filter(conversation=conversation).aexists()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "switch", "message_id": "1"}, "bad_message"),
        ({"type": "delete"}, "bad_message"),
        ({"type": "edit", "message_id": 999999, "text": "x"}, "message_not_found"),
    ],
)
async def test_branch_frames_with_a_bad_message_id_get_an_error(
    connect, alice, conversation, frame, code
):
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to(frame)
    reply = await socket.receive_json_from(timeout=5)
    assert reply == {
        "type": "error",
        "code": code,
        "message": reply["message"],
        "request": frame["type"],
    }


async def test_a_socket_starts_with_the_current_title(alice, conversation, live):
    """A title made while the page loaded (a fast first answer) still reaches the page:
    the socket's first frame is the title as it is when the socket joins."""
    from channels.testing import WebsocketCommunicator
    from django.conf import settings as django_settings
    from django.test import Client

    from chatweb.asgi import application

    await Conversation.objects.filter(pk=conversation.pk).aupdate(title="Made by the model")
    client = Client()
    await sync_to_async(client.force_login)(alice)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    communicator = WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation.pk}/",
        headers=[
            (b"origin", b"http://testserver"),
            (b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ],
    )
    connected, _ = await communicator.connect(timeout=5)
    try:
        assert connected
        frame = await communicator.receive_json_from(timeout=5)
        assert frame == {
            "type": "title",
            "conversation_id": conversation.pk,
            "title": "Made by the model",
        }
    finally:
        await communicator.disconnect()


async def test_a_chat_makes_no_bare_database_thread_hop(
    connect, alice, conversation, monkeypatch, upstream: FakeUpstream
):
    """channels closes old connections in the database thread before each message it
    dispatches and after a disconnect; the socket skips that: every delta of every
    answer would queue behind the process's database work, and a chat's connect, its
    frames and its disconnect would each wait for a trip that reads nothing. Its database
    work goes through database_sync_to_async, which closes old connections itself."""
    from channels import consumer as channels_consumer
    from channels.generic import websocket as channels_websocket

    hops: list[str] = []
    original = channels_consumer.aclose_old_connections

    async def counted() -> None:
        hops.append("close_old_connections")
        await original()

    monkeypatch.setattr(channels_consumer, "aclose_old_connections", counted)
    monkeypatch.setattr(channels_websocket, "aclose_old_connections", counted)
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=30 delay=0.005]]"})
    frames = await frames_until(socket, is_done)
    assert len(deltas(frames)) > 1
    assert joined(frames) == expected_text(30)
    await socket.send_to(text_data="not json")
    await frames_until(socket, lambda f: f["type"] == "error")
    await socket.disconnect()
    assert hops == []


async def test_frames_reach_the_socket_without_a_task_per_frame(connect, alice, conversation):
    """The consumer reads its channel-layer events in one loop of its own: channels made
    a Task (and an asyncio.wait) per event, i.e. per delta frame of every socket."""
    from channels.layers import get_channel_layer

    from realtime import events

    socket = await connect(alice, conversation.pk)
    layer = get_channel_layer()
    loop = asyncio.get_running_loop()
    created: list[object] = []
    factory = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        # Tasks made to receive from the channel layer (channels-redis's proxy included);
        # the Redis layer's own tasks (publishing, reading Redis) are not the consumer's.
        arguments = coro.cr_frame.f_locals if getattr(coro, "cr_frame", None) else {}
        if coro.__qualname__.endswith(".receive") or arguments.get("name") == "receive":
            created.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        for seq in range(1, 51):
            frame = events.delta_frame(999, seq, f"t{seq} ")
            await layer.group_send(
                events.conversation_group(conversation.pk), events.forward(frame)
            )
        got = [await socket.receive_json_from(timeout=5) for _ in range(50)]
    finally:
        loop.set_task_factory(factory)
    assert [f["seq"] for f in got] == list(range(1, 51))
    assert len(created) < 5, created  # not one receive task per frame


async def test_a_sends_frames_go_out_from_the_loop_in_order_before_the_answer(
    connect, alice, conversation, monkeypatch, upstream: FakeUpstream
):
    """The title, the message and the pending answer are published after the post's
    commit by the loop that awaited it, not by async_to_sync calls from the database
    thread (a round trip to the loop each)."""
    from asgiref.sync import async_to_sync

    from realtime import publish

    sent_from_thread: list[object] = []

    def counted(function: Any) -> Any:
        sent_from_thread.append(function)
        return async_to_sync(function)

    monkeypatch.setattr(publish, "async_to_sync", counted)
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=5]]"})
    frames = await frames_until(socket, is_done)

    assert [f["type"] for f in frames[:3]] == ["title", "message", "message"]
    assert [frames[1]["message"]["role"], frames[2]["message"]["role"]] == ["user", "assistant"]
    assert frames[2]["message"]["status"] == "pending"
    assert joined(frames) == expected_text(5)
    assert sent_from_thread == []
