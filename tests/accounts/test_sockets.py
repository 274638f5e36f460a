"""A socket's sign-in (accounts/sockets.py), through the real ASGI application: Django's
rules for a session's user, whose row the conversation socket reads with its conversation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import sockets
from conversations.models import Conversation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CLOSED_SIGNED_OUT = {"type": "websocket.close", "code": 4401}


async def session_of(user: Any) -> tuple[Client, str]:
    """A browser signed in as `user`: its HTTP client and its session cookie's value."""
    client = Client()
    await sync_to_async(client.force_login)(user)
    return client, client.cookies[django_settings.SESSION_COOKIE_NAME].value


async def first_output(conversation_id: int, cookie: str | None) -> dict[str, Any]:
    """Open a socket with `cookie` as its session cookie; what it first receives."""
    from chatweb.asgi import application

    headers = [(b"origin", b"http://testserver")]
    if cookie is not None:
        headers.append((b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    socket = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation_id}/", headers=headers
    )
    try:
        connected, code = await socket.connect(timeout=5)
        assert connected, code
        output: dict[str, Any] = await socket.receive_output(timeout=5)
        return output
    finally:
        await socket.disconnect()


def is_title(output: dict[str, Any]) -> bool:
    return output["type"] == "websocket.send" and '"type": "title"' in output["text"]


async def test_a_signed_in_user_gets_the_socket(live, alice, conversation):
    _, cookie = await session_of(alice)
    assert is_title(await first_output(conversation.pk, cookie))


@pytest.mark.parametrize("cookie", [None, "", "garbage", "x" * 32])
async def test_a_missing_or_unknown_session_cookie_is_refused(live, conversation, cookie):
    assert await first_output(conversation.pk, cookie) == CLOSED_SIGNED_OUT


async def test_a_session_from_before_a_password_change_is_refused_and_flushed(
    live, alice, conversation
):
    _, cookie = await session_of(alice)
    alice.set_password("a-brand-new-password-9")
    await alice.asave()
    assert await first_output(conversation.pk, cookie) == CLOSED_SIGNED_OUT
    # As a page view does: the session that failed the check is gone.
    assert not await Session.objects.filter(session_key=cookie).aexists()


async def test_an_inactive_users_session_is_refused(live, alice, conversation):
    _, cookie = await session_of(alice)
    alice.is_active = False
    await alice.asave()
    assert await first_output(conversation.pk, cookie) == CLOSED_SIGNED_OUT


async def test_a_session_of_a_backend_no_longer_configured_is_refused(
    live, alice, conversation, settings
):
    _, cookie = await session_of(alice)
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.AllowAllUsersModelBackend"]
    assert await first_output(conversation.pk, cookie) == CLOSED_SIGNED_OUT


async def test_a_session_signed_with_a_fallback_key_is_accepted_and_kept(
    live, alice, conversation, settings
):
    settings.SECRET_KEY = "the-old-secret-key-" + "o" * 40
    client, cookie = await session_of(alice)
    settings.SECRET_KEY = "the-new-secret-key-" + "n" * 40
    settings.SECRET_KEY_FALLBACKS = ["the-old-secret-key-" + "o" * 40]
    assert is_title(await first_output(conversation.pk, cookie))
    # The socket cannot send a new cookie, so the session is not rotated: the browser's
    # cookie still signs its next page view in (which then rotates it, as Django does).
    assert await Session.objects.filter(session_key=cookie).aexists()
    response = await sync_to_async(client.get)("/")
    assert response.status_code == 200
    assert client.cookies[django_settings.SESSION_COOKIE_NAME].value != cookie


async def test_a_session_signed_with_a_retired_key_is_refused(live, alice, conversation, settings):
    settings.SECRET_KEY = "the-old-secret-key-" + "o" * 40
    _, cookie = await session_of(alice)
    settings.SECRET_KEY = "the-new-secret-key-" + "n" * 40
    assert await first_output(conversation.pk, cookie) == CLOSED_SIGNED_OUT


async def test_a_handshake_reads_the_session_then_the_user_with_the_conversation(
    live, alice, conversation, monkeypatch
):
    from streaming import consumers

    trips: list[list[str]] = []  # the queries of each trip to the database thread

    def counting(func: Callable[..., Any]) -> Any:
        def counted(*args: Any) -> Any:
            with CaptureQueriesContext(connection) as queries:  # the database thread's
                result = func(*args)
            trips.append([q["sql"] for q in queries.captured_queries])
            return result

        return database_sync_to_async(counted)

    monkeypatch.setattr(sockets, "database_sync_to_async", counting)
    monkeypatch.setattr(consumers, "database_sync_to_async", counting)
    _, cookie = await session_of(alice)
    await sync_to_async(cache.clear)()
    assert is_title(await first_output(conversation.pk, cookie))
    # Not in the cache: the session's row; then one query, the user with the conversation.
    assert [len(trip) for trip in trips] == [1, 1]
    assert "django_session" in trips[0][0]
    assert '"auth_user"' in trips[1][0]
    assert '"conversations_conversation"' in trips[1][0]
    # Now cached (cached_db): the one query only.
    trips.clear()
    assert is_title(await first_output(conversation.pk, cookie))
    assert [len(trip) for trip in trips] == [0, 1]
    # No cookie: no trip at all.
    trips.clear()
    assert await first_output(conversation.pk, None) == CLOSED_SIGNED_OUT
    assert trips == []


async def test_a_password_changed_after_the_session_was_read_still_refuses_the_socket(
    live, alice, conversation, monkeypatch
):
    # The user is read after the socket joined its groups: a change in between is seen
    # (by the read) or signalled (to the user's group), never missed.
    _, cookie = await session_of(alice)
    original = sockets.open_session

    def open_then_change(session_key: str | None) -> sockets.SocketSignIn:
        opened = original(session_key)
        alice.set_password("changed-while-opening-7")
        alice.save()
        return opened

    monkeypatch.setattr(sockets, "open_session", open_then_change)
    assert await first_output(conversation.pk, cookie) == CLOSED_SIGNED_OUT


async def test_a_conversation_of_someone_else_is_not_found_and_a_stale_session_signed_out(
    live, alice, bob, monkeypatch
):
    bobs = await sync_to_async(Conversation.objects.create)(user=bob, title="Bob's", model="m")
    _, cookie = await session_of(alice)
    assert await first_output(bobs.pk, cookie) == {"type": "websocket.close", "code": 4404}
    alice.set_password("a-brand-new-password-9")
    await alice.asave()
    # Nothing read with the conversation: the user is read alone, and the session refused.
    assert await first_output(bobs.pk, cookie) == CLOSED_SIGNED_OUT
