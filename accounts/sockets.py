"""A WebSocket's sign-in: its session cookie to scope["session"] and scope["user"].

It replaces channels' AuthMiddlewareStack (cookie, session and auth middleware) on the
websocket route. The session (through SESSION_ENGINE, so cached_db's cache is used) and
its user are read in one sync function, one trip to the database thread, by Django's
own django.contrib.auth.get_user: the same rules as a page view (the backend must still
be configured, the session's auth hash must match, SECRET_KEY_FALLBACKS included, an
inactive user is refused by ModelBackend). scope["user"] is the user itself, not a lazy
object, and outgoing messages are not wrapped: a socket never saves its session.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.http import parse_cookie

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.contrib.sessions.backends.base import SessionBase

Scope = dict[str, Any]


class _HandshakeSession:
    """The session as get_user() sees it during a handshake.

    Where a page view would rotate the session (its hash made with a key now in
    SECRET_KEY_FALLBACKS: a new session key, the old one deleted, a new cookie sent), a
    socket cannot send the cookie; rotating here would delete the session the browser
    still holds and sign it out. The user is accepted as Django accepts them, and the
    rotation is left to the next page view. A session that fails the check is flushed,
    as Django does.
    """

    def __init__(self, store: SessionBase) -> None:
        self._store = store

    def __getitem__(self, key: str) -> Any:
        return self._store[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        pass  # only the rotation writes (the new hash); see the class docstring

    def cycle_key(self) -> None:
        pass

    def flush(self) -> None:
        self._store.flush()


class _HandshakeRequest:
    """What get_user() reads of a request: its session."""

    def __init__(self, store: SessionBase) -> None:
        self.session = _HandshakeSession(store)


def sign_in(session_key: str | None) -> tuple[SessionBase, AbstractBaseUser | AnonymousUser]:
    """The session of `session_key` and its user (AnonymousUser if none): database thread."""
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if not session_key:
        return store, AnonymousUser()
    return store, get_user(_HandshakeRequest(store))  # type: ignore[arg-type]


def cookies_of(scope: Scope) -> dict[str, str]:
    """The request's cookies, parsed as Django parses them (request.COOKIES)."""
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie(value.decode("latin-1"))
    return {}


class SessionAuthMiddleware:
    """scope["cookies"], scope["session"] and scope["user"] for the inner application."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        cookies = cookies_of(scope)
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        if session_key:
            session, user = await database_sync_to_async(sign_in)(session_key)
        else:
            # No cookie: nothing to read, so no trip to the database thread.
            session, user = sign_in(None)
        scope = dict(scope, cookies=cookies, session=session, user=user)
        return await self.inner(scope, receive, send)
