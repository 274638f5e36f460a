"""No piece of the API key ever leaves the server: a full chat with an upstream that echoes it.

Through the real ASGI application (page, socket, admin) and the real fake upstream, with
a canary key the upstream echoes in a 401 body, in a mid-stream error event and in a
non-JSON line (at offset 60, where cutting before scrubbing leaked 20 characters). Every
HTTP response, socket frame, log line (DEBUG and up, from every logger) and stored
column is searched for the key and for every 12-character piece of it.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import AsyncClient

from conversations.models import Message
from streaming.registry import registry
from tests.conftest import frames_until, is_done
from tests.upstream import FakeUpstream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CANARY = "sk-canary-Q7w9E2r4T6y8U1i3O5p7A9s2D4f6G8h1J3k5L7z9X2c4V6b8N1m3"


def pieces(secret: str, size: int = 12) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def leaks(text: str) -> list[str]:
    return sorted(piece for piece in pieces(CANARY) if piece in text)


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("401", "upstream_http_error"),
        ("event", "upstream_stream_error"),
        ("garbage", "upstream_stream_error"),
    ],
)
async def test_no_piece_of_the_key_reaches_a_page_a_frame_a_log_or_the_database(
    connect, alice, conversation, upstream: FakeUpstream, settings, caplog, where, code
):
    settings.OPENAI_API_KEY = CANARY
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": f"[[fake echo_key={where}]]"})
    frames = await frames_until(socket, is_done)
    seen.extend(str(frame) for frame in frames)
    done = frames[-1]["message"]
    assert done["error_code"] == code
    # The upstream really did echo it: the test would catch a leak.
    assert upstream.chat_requests[-1].headers["authorization"] == f"Bearer {CANARY}"

    await socket.send_json_to({"type": "sync"})
    seen.append(str(await socket.receive_json_from(timeout=5)))

    client = AsyncClient()
    await client.aforce_login(alice)
    seen.append((await client.get(f"/c/{conversation.pk}/")).content.decode())
    created = await client.post("/c/new/", {"text": f"[[fake echo_key={where}]]"})
    seen.append(created.content.decode())
    # Let that second answer end too, then look at it in its page and in the admin.
    for _, task in list(registry.running.values()):
        await task
    assert created.status_code == 302
    seen.append((await client.get(created["Location"])).content.decode())
    from django.contrib.auth import get_user_model

    admin_user = await get_user_model().objects.acreate_superuser("root", password="root-pw-1")
    admin = AsyncClient()
    await admin.aforce_login(admin_user)
    async for message in Message.objects.all():
        seen.append(
            (await admin.get(f"/admin/conversations/message/{message.pk}/change/")).content.decode()
        )
        row: dict[str, Any] = {f.attname: getattr(message, f.attname) for f in Message._meta.fields}
        seen.append(str(row))
    async for message in Message.objects.filter(role="assistant"):
        assert message.error_code == code

    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(record.exc_text or "" for record in caplog.records)
    seen.append(caplog.text)
    everything = "\n".join(seen)
    assert CANARY not in everything
    assert leaks(everything) == []
