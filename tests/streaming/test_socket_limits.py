"""The socket's protections (docs/security.md), through the real ASGI application:
sign-out and deactivation close it, frames and `sync` are rate-limited, and a user's
concurrent answers are capped."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from conversations.models import Conversation, Message
from tests.conftest import frames_until, is_done
from tests.upstream import FakeUpstream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CLOSED_SIGNED_OUT = {"type": "websocket.close", "code": 4401}


async def signed_in_socket(user: Any, conversation_id: int) -> tuple[Client, WebsocketCommunicator]:
    """A browser session (its HTTP client) and a socket opened with its cookie."""
    from chatweb.asgi import application

    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    socket = WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation_id}/",
        headers=[
            (b"origin", b"http://testserver"),
            (b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ],
    )
    connected, code = await socket.connect(timeout=5)
    assert connected, code
    # An accepted socket starts with the conversation's title (docs/protocol.md).
    assert (await socket.receive_json_from(timeout=5))["type"] == "title"
    return client, socket


async def test_signing_out_closes_that_sessions_socket_at_once(live, alice, conversation):
    client, socket = await signed_in_socket(alice, conversation.pk)
    _, other_session = await signed_in_socket(alice, conversation.pk)
    try:
        response = await sync_to_async(client.post)("/accounts/logout/")
        assert response.status_code == 302
        assert await socket.receive_output(timeout=5) == CLOSED_SIGNED_OUT
        # Another browser of the same user stays signed in, its socket open.
        assert await other_session.receive_nothing(timeout=0.3)
    finally:
        await socket.disconnect()
        await other_session.disconnect()


async def test_deactivating_a_user_closes_every_socket_of_theirs(
    live, alice, conversation, upstream: FakeUpstream
):
    _, first = await signed_in_socket(alice, conversation.pk)
    _, second = await signed_in_socket(alice, conversation.pk)
    try:
        alice.is_active = False
        await alice.asave()
        assert await first.receive_output(timeout=5) == CLOSED_SIGNED_OUT
        assert await second.receive_output(timeout=5) == CLOSED_SIGNED_OUT
        # A frame already on its way is ignored: nothing is written, nothing is called.
        await first.send_json_to({"type": "send", "text": "still here?"})
        await first.receive_nothing(timeout=0.3)
        assert not await Message.objects.filter(conversation=conversation).aexists()
        assert upstream.chat_requests == []
    finally:
        await first.disconnect()
        await second.disconnect()


async def test_a_deactivated_users_new_socket_is_closed_with_4401(live, alice, conversation):
    client = Client()
    await sync_to_async(client.force_login)(alice)
    alice.is_active = False
    await alice.asave()
    from chatweb.asgi import application

    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    socket = WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation.pk}/",
        headers=[
            (b"origin", b"http://testserver"),
            (b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ],
    )
    await socket.connect(timeout=5)
    assert await socket.receive_output(timeout=5) == CLOSED_SIGNED_OUT
    await socket.disconnect()


async def test_a_password_change_closes_the_users_sockets_so_they_reauthenticate(
    live, alice, conversation
):
    _, socket = await signed_in_socket(alice, conversation.pk)
    try:
        alice.set_password("a-brand-new-password-9")
        await alice.asave()
        # 4001: reconnect. The old session no longer authenticates, so it then gets 4401.
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4001}
    finally:
        await socket.disconnect()


async def test_frames_over_the_rate_get_an_error_then_the_socket_is_closed(
    connect, alice, conversation, settings
):
    settings.WS_MAX_FRAMES_PER_SECOND = 2  # bursts of 4
    socket = await connect(alice, conversation.pk)
    for _ in range(8):
        await socket.send_json_to({"type": "no-such-frame"})
    outputs = []
    while True:
        output = await socket.receive_output(timeout=5)
        outputs.append(output)
        if output["type"] == "websocket.close":
            break
    codes = [json.loads(o["text"])["code"] for o in outputs if o["type"] == "websocket.send"]
    # Four within the burst get their usual answer; the fifth is refused with one error,
    # and a second's worth more (two) closes the socket.
    assert codes == ["bad_frame"] * 4 + ["too_many_frames"]
    assert outputs[-1] == {"type": "websocket.close", "code": 4429}


async def test_sync_requests_are_coalesced_while_an_answer_streams(
    connect, alice, conversation, settings, upstream: FakeUpstream
):
    settings.WS_SYNC_MIN_INTERVAL_MS = 60_000
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=300 delay=0.01]]"})
    await frames_until(socket, lambda f: f["type"] == "delta")
    for _ in range(6):
        await socket.send_json_to({"type": "sync"})
    frames = await frames_until(socket, is_done, timeout=20)
    snapshots = [f for f in frames if f["type"] == "snapshot"]
    # One snapshot (the whole text so far) however many requests: a client cannot make
    # the server build and buffer one per frame.
    assert len(snapshots) == 1
    assert snapshots[0]["message"]["status"] == "streaming"


async def test_a_user_cannot_stream_more_answers_at_once_than_the_limit(
    connect, alice, conversation, settings, upstream: FakeUpstream
):
    settings.MAX_CONCURRENT_ANSWERS = 1
    other = await Conversation.objects.acreate(user=alice, title="Other", model="fake-model")
    first = await connect(alice, conversation.pk)
    second = await connect(alice, other.pk)
    await first.send_json_to({"type": "send", "text": "[[fake tokens=300 delay=0.01]]"})
    await frames_until(first, lambda f: f["type"] == "delta")
    await second.send_json_to({"type": "send", "text": "and one more"})
    frames = await frames_until(second, lambda f: f["type"] == "error")
    assert frames[-1]["code"] == "too_many_answers"
    assert not await Message.objects.filter(conversation=other).aexists()
    await first.send_json_to({"type": "stop"})
    await frames_until(first, is_done)
    # Once the first has ended, the second may start.
    await second.send_json_to({"type": "send", "text": "[[fake tokens=2]] now"})
    done = (await frames_until(second, is_done))[-1]
    assert done["message"]["status"] == "done"
