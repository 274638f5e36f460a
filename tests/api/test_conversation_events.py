"""/api/v1/conversations/{id}/events (the page's fallback: the socket's frames as
Server-Sent Events) and DELETE of a message, through the real ASGI application."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from conversations.models import Message
from tests.upstream import FakeUpstream, expected_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def parse(chunk: bytes) -> tuple[str, dict[str, Any], str | None]:
    text = chunk.decode()
    name = re.findall(r"^event: (\w+)$", text, re.MULTILINE)[0]
    data = json.loads(re.findall(r"^data: (.*)$", text, re.MULTILINE)[0])
    ident = re.findall(r"^id: (.*)$", text, re.MULTILINE)
    return name, data, ident[0] if ident else None


async def test_the_conversation_stream_carries_the_sockets_frames_from_a_snapshot(
    live, alice_api, conversation, upstream: FakeUpstream
):
    stream = await alice_api.client.get(
        f"/api/v1/conversations/{conversation.pk}/events", headers=alice_api.headers()
    )
    assert stream.status_code == 200
    assert stream["Content-Type"].startswith("text/event-stream")
    assert stream["X-Accel-Buffering"] == "no"
    chunks = aiter(stream.streaming_content)
    name, data, _ident = parse(await anext(chunks))
    assert (name, data) == ("snapshot", {"type": "snapshot", "message": None})

    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "[[fake tokens=30]]"}
    )
    answer_id = posted.json()["message_id"]
    seen: list[tuple[str, dict[str, Any], str | None]] = []
    async with asyncio.timeout(15):
        while not seen or seen[-1][0] != "done":
            seen.append(parse(await anext(chunks)))
    names = [name for name, _data, _ident in seen]
    # The question and the pending answer (a first title may come between them).
    assert [n for n in names if n == "message"] == ["message", "message"]
    assert names.index("message") < names.index("delta")
    assert all(data["type"] == name for name, data, _ident in seen)
    deltas = [(data, ident) for name, data, ident in seen if name == "delta"]
    assert [d["seq"] for d, _ in deltas] == list(range(1, len(deltas) + 1))
    assert all(ident == f"{answer_id}.{d['seq']}" for d, ident in deltas)
    assert "".join(d["text"] for d, _ in deltas) == expected_text(30)
    assert seen[-1][1]["message"]["status"] == "done"


async def test_the_conversation_stream_is_the_owners_and_needs_the_chat_scope(
    live, alice_api, bob_api, conversation
):
    outsider = await bob_api.client.get(
        f"/api/v1/conversations/{conversation.pk}/events", headers=bob_api.headers()
    )
    assert outsider.status_code == 404
    assert outsider.json()["error"]["code"] == "not_found"


async def test_deleting_a_message_removes_it_and_what_follows(
    live, alice_api, bob_api, conversation, upstream: FakeUpstream
):
    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "[[fake tokens=3]]"}
    )
    answer_id = posted.json()["message_id"]
    for _ in range(500):
        if (await Message.objects.aget(pk=answer_id)).status == "done":
            break
        await asyncio.sleep(0.01)
    question = await Message.objects.aget(pk=answer_id)
    url = f"/conversations/{conversation.pk}/messages/{question.parent_id}"
    refused = await bob_api.send("delete", url)
    assert refused.status_code == 404
    assert await Message.objects.acount() == 2
    deleted = await alice_api.send("delete", url)
    assert deleted.status_code == 204, deleted.content
    assert await Message.objects.acount() == 0
