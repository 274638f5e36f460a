"""/api/v1 answers: post, regenerate, edit, stop through the engine; busy 409, the chat
scope, the token's model allowlist and its own hourly limit, and the session's CSRF."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import pytest
from django.test import AsyncClient

from conversations.models import Message
from streaming.registry import registry
from tests.api.conftest import ALL_SCOPES, token_for
from tests.upstream import FakeUpstream, expected_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def ended(answer_id: int) -> Message:
    running = registry.running.get(answer_id)
    if running is not None:
        await asyncio.wait_for(running[1], 10)
    return await Message.objects.aget(pk=answer_id)


async def test_posting_starts_the_answer_and_says_where_to_watch_it(
    live, alice_api, conversation, upstream: FakeUpstream
):
    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "[[fake tokens=4]]"}
    )
    assert posted.status_code == 202, posted.content
    body = posted.json()
    assert body["events_url"] == f"/api/v1/messages/{body['message_id']}/events"
    assert body["message"]["status"] == "pending"
    answer = await ended(body["message_id"])
    assert (answer.status, answer.content) == ("done", expected_text(4))
    assert answer.parent_id is not None
    question = await Message.objects.aget(pk=answer.parent_id)
    assert question.content == "[[fake tokens=4]]"


async def test_a_second_post_while_an_answer_streams_is_busy(
    live, alice_api, conversation, upstream: FakeUpstream
):
    url = f"/conversations/{conversation.pk}/messages"
    first = await alice_api.post(url, {"text": "[[fake tokens=200 delay=0.02]]"})
    assert first.status_code == 202
    for path, body in [
        (url, {"text": "again"}),
        (f"/conversations/{conversation.pk}/regenerate", {}),
    ]:
        busy = await alice_api.post(path, body)
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "busy"
    assert await Message.objects.acount() == 2  # nothing written for the refused posts
    stopped = await alice_api.post(f"/conversations/{conversation.pk}/stop")
    assert stopped.status_code == 202
    assert stopped.json() == {"message_id": first.json()["message_id"]}
    answer = await ended(first.json()["message_id"])
    assert answer.status == "stopped"
    again = await alice_api.post(f"/conversations/{conversation.pk}/stop")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_streaming"


async def test_regenerate_and_edit_make_branches(
    live, alice_api, conversation, upstream: FakeUpstream
):
    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "[[fake tokens=3]]"}
    )
    first = await ended(posted.json()["message_id"])
    regenerated = await alice_api.post(f"/conversations/{conversation.pk}/regenerate", {})
    assert regenerated.status_code == 202, regenerated.content
    second = await ended(regenerated.json()["message_id"])
    assert second.parent_id == first.parent_id
    assert second.pk != first.pk
    edited = await alice_api.post(
        f"/conversations/{conversation.pk}/messages/{first.parent_id}/edit",
        {"text": "[[fake tokens=2]]"},
    )
    assert edited.status_code == 202, edited.content
    third = await ended(edited.json()["message_id"])
    assert third.content == expected_text(2)
    not_editable = await alice_api.post(
        f"/conversations/{conversation.pk}/messages/{third.pk}/edit", {"text": "x"}
    )
    assert not_editable.json()["error"]["code"] == "not_editable"


async def test_answers_need_the_chat_scope(live, alice, conversation, upstream: FakeUpstream):
    api = await token_for(alice, [s for s in ALL_SCOPES if s != "chat"])
    for path, body in [
        (f"/conversations/{conversation.pk}/messages", {"text": "hi"}),
        (f"/conversations/{conversation.pk}/regenerate", {}),
        (f"/conversations/{conversation.pk}/stop", None),
    ]:
        refused = await api.post(path, body)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "insufficient_scope"
    refused = await api.get("/messages/1/events")
    assert refused.status_code == 403
    assert not await Message.objects.aexists()
    assert upstream.chat_requests == []


async def test_the_tokens_model_allowlist_applies_to_the_model_used(
    live, alice, conversation, upstream: FakeUpstream
):
    api = await token_for(alice, ["chat"], models_allowed=["fake-model-2"])
    url = f"/conversations/{conversation.pk}/messages"
    # The conversation's model (fake-model) is used when none is named: not allowed.
    refused = await api.post(url, {"text": "hi"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    refused = await api.post(url, {"text": "hi", "model": "fake-model"})
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert not await Message.objects.aexists()
    allowed = await api.post(url, {"text": "[[fake tokens=2]]", "model": "fake-model-2"})
    assert allowed.status_code == 202, allowed.content
    answer = await ended(allowed.json()["message_id"])
    assert answer.model == "fake-model-2"


async def test_the_tokens_own_hourly_limit_counts_its_posts(
    live, alice, conversation, upstream: FakeUpstream
):
    api = await token_for(alice, ["chat"], requests_per_hour=1)
    url = f"/conversations/{conversation.pk}/messages"
    first = await api.post(url, {"text": "[[fake tokens=2]]"})
    assert first.status_code == 202
    await ended(first.json()["message_id"])
    refused = await api.post(url, {"text": "[[fake tokens=2]]"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused["x-should-retry"] == "false"
    assert int(refused["Retry-After"]) > 0
    assert len(upstream.chat_requests) == 1
    # Another token of the same user is not held by this token's limit.
    other = await token_for(alice, ["chat"])
    assert (await other.post(url, {"text": "[[fake tokens=2]]"})).status_code == 202


async def test_the_session_may_post_with_its_csrf_token_only(
    live, alice, conversation, upstream: FakeUpstream
):
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(alice)
    url = f"/api/v1/conversations/{conversation.pk}/messages"
    body = '{"text": "[[fake tokens=2]]"}'
    refused = await client.post(url, data=body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    assert not await Message.objects.aexists()
    page = await client.get("/api/v1/conversations")  # a safe method needs no CSRF token
    assert page.status_code == 200
    await client.get("/")  # the page sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    posted = await client.post(
        url, data=body, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert posted.status_code == 202, posted.content
    await ended(posted.json()["message_id"])


async def test_stop_by_message_id(live, alice_api, conversation, upstream: FakeUpstream):
    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "[[fake tokens=300 delay=0.02]]"}
    )
    answer_id = posted.json()["message_id"]
    stopped = await alice_api.post(f"/messages/{answer_id}/stop")
    assert stopped.status_code == 202
    assert (await ended(answer_id)).status == "stopped"
    assert (await alice_api.post(f"/messages/{answer_id}/stop")).status_code == 409


async def test_another_users_answer_cannot_be_watched_or_stopped(
    live, alice_api, bob_api, conversation, upstream: FakeUpstream
):
    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "[[fake tokens=300 delay=0.02]]"}
    )
    answer_id = posted.json()["message_id"]
    assert (await bob_api.get(f"/messages/{answer_id}/events")).status_code == 404
    assert (await bob_api.post(f"/messages/{answer_id}/stop")).status_code == 404
    running: Any = await Message.objects.aget(pk=answer_id)
    assert running.status in Message.LIVE
    await alice_api.post(f"/conversations/{conversation.pk}/stop")
    await ended(answer_id)


async def test_the_stream_of_an_answer_deleted_with_its_conversation_ends_with_an_error(
    live, alice_api, conversation, upstream: FakeUpstream, settings
):
    settings.API_SSE_PING_SECONDS = 0.2
    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "[[fake tokens=400 delay=0.02]]"}
    )
    answer_id = posted.json()["message_id"]
    stream = await alice_api.client.get(
        f"/api/v1/messages/{answer_id}/events", headers=alice_api.headers()
    )
    chunks = aiter(stream.streaming_content)
    names: list[str] = []
    async with asyncio.timeout(20):
        while not names or names[-1] != "error":
            chunk = (await anext(chunks)).decode()
            names.append(re.findall(r"^event: (\w+)$", chunk, re.MULTILINE)[0])
            if len(names) == 3:
                deleted = await alice_api.send("delete", f"/conversations/{conversation.pk}")
                assert deleted.status_code == 204
        last = chunk
    assert names[0] == "snapshot"
    assert '"code":"not_found"' in last
    assert "done" not in names
    with contextlib.suppress(StopAsyncIteration):
        await anext(chunks)
        raise AssertionError("the stream went on after its error")
