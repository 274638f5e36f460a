"""A socket's sign-in (accounts/sockets.py), through the real ASGI application: Django's
rules for a session's user, read in one trip to the database thread."""

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


async def test_the_session_and_user_are_read_in_one_trip_to_the_database_thread(
    live, alice, conversation, monkeypatch
):
    trips: list[int] = []  # the queries of each trip

    def counting(func: Callable[..., Any]) -> Any:
        def counted(*args: Any) -> Any:
            with CaptureQueriesContext(connection) as queries:  # the database thread's
                result = func(*args)
            trips.append(len(queries.captured_queries))
            return result

        return database_sync_to_async(counted)

    monkeypatch.setattr(sockets, "database_sync_to_async", counting)
    _, cookie = await session_of(alice)
    await sync_to_async(cache.clear)()
    assert is_title(await first_output(conversation.pk, cookie))
    # Not in the cache: the session's row and the user.
    assert trips == [2]
    # Now cached (cached_db): the user only.
    assert is_title(await first_output(conversation.pk, cookie))
    assert trips == [2, 1]
    # No cookie: no trip at all.
    assert await first_output(conversation.pk, None) == CLOSED_SIGNED_OUT
    assert trips == [2, 1]
