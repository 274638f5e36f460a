"""A WebSocket's sign-in: its session cookie to scope["session"], and its user checked by
Django's rules with the first read that needs the user.

It replaces channels' AuthMiddlewareStack (cookie, session and auth middleware) on the
websocket route. The middleware reads only the session (through SESSION_ENGINE, so
cached_db's cache is used): scope["sign_in"] is a SocketSignIn, which knows the user the
session claims (`user_id`) before anything else is read, and scope["user"] stays
UNCHECKED (not signed in) until a consumer checks it:

- `SocketSignIn.user()` is django.contrib.auth.get_user: the user's own row read and
  checked (a consumer that needs nothing else, streaming.diagnostics);
- `SocketSignIn.user_from(row)` applies the same rules to the user's row read together
  with something else (the conversation socket reads its conversation joined to its
  owner: one query, one transaction, where there were two).

The rules are Django's get_user()'s: the backend must still be configured, the session's
auth hash must match (SECRET_KEY_FALLBACKS included), an inactive user is refused by the
backend's user_can_authenticate. `user_from` applies them only for backends whose get_user
is ModelBackend's (the row by its key, then user_can_authenticate: ModelBackend and its
subclasses, accounts.sso.SSOBackend); any other backend reads its user itself.
tests/accounts/test_sockets.py checks `user_from` against Django's get_user case by case.
"""

from __future__ import annotations

from functools import cached_property
from importlib import import_module
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user,
    get_user_model,
    load_backend,
)
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import parse_cookie
from django.utils.crypto import constant_time_compare

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.contrib.sessions.backends.base import SessionBase

Scope = dict[str, Any]


class _Unchecked(AnonymousUser):
    """scope["user"] before a consumer has checked the session's user: not signed in."""


UNCHECKED = _Unchecked()


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


def _reads_its_row(backend: Any) -> bool:
    """Whether the backend's get_user(pk) is ModelBackend's: the row, then
    user_can_authenticate (so a row read elsewhere can stand in for it)."""
    if type(backend).get_user is ModelBackend.get_user:
        return True
    return bool(getattr(backend, "get_user_is_model_backends", False))


class SocketSignIn:
    """A handshake's session, read, and the user it claims, checked once read."""

    def __init__(self, store: SessionBase) -> None:
        self.store = store

    @cached_property
    def user_id(self) -> Any:
        """The key of the user the session claims (unchecked), or None: nothing to read."""
        if not self.store.session_key:
            return None
        try:
            return get_user_model()._meta.pk.to_python(self.store[SESSION_KEY])
        except (KeyError, ValidationError):
            return None

    def user(self) -> AbstractBaseUser | AnonymousUser:
        """django.contrib.auth.get_user for this session: its user's row read (database
        thread) and checked."""
        if self.user_id is None:
            return AnonymousUser()
        return get_user(_HandshakeRequest(self.store))  # type: ignore[arg-type]

    def user_from(self, row: AbstractBaseUser | None) -> AbstractBaseUser | AnonymousUser:
        """get_user() for this session, with `row` standing in for the backend's read of
        the user: the row of `user_id`, read with something else, or None if that read
        found nothing (get_user() then decides, reading the user itself)."""
        backend_path = self.store.get(BACKEND_SESSION_KEY)
        if self.user_id is None or backend_path not in settings.AUTHENTICATION_BACKENDS:
            return AnonymousUser()
        backend: Any = load_backend(backend_path)
        if row is None or row.pk != self.user_id or not _reads_its_row(backend):
            return self.user()
        if not backend.user_can_authenticate(row):
            return AnonymousUser()
        return row if self._hash_holds(row) else AnonymousUser()

    def _hash_holds(self, user: AbstractBaseUser) -> bool:
        """get_user()'s session verification: the auth hash, or a fallback key's (then
        accepted without rotating, see _HandshakeSession); a session failing it is
        flushed."""
        session_hash = self.store.get(HASH_SESSION_KEY)
        if session_hash and constant_time_compare(session_hash, user.get_session_auth_hash()):
            return True
        if session_hash and any(
            constant_time_compare(session_hash, fallback)
            for fallback in user.get_session_auth_fallback_hash()
        ):
            return True
        self.store.flush()
        return False


def open_session(session_key: str | None) -> SocketSignIn:
    """The session of `session_key`, loaded (database thread, unless cached or empty)."""
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if session_key:
        store.get(SESSION_KEY)  # loads it here, in this thread
    return SocketSignIn(store)


def cookies_of(scope: Scope) -> dict[str, str]:
    """The request's cookies, parsed as Django parses them (request.COOKIES)."""
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie(value.decode("latin-1"))
    return {}


async def signed_in_user(scope: Scope) -> AbstractBaseUser | AnonymousUser:
    """The socket's user, checked (one read of the user's row), for consumers that read
    nothing else at connect; also stored as scope["user"]."""
    sign_in: SocketSignIn | None = scope.get("sign_in")
    if sign_in is None or sign_in.user_id is None:
        return AnonymousUser()
    user: AbstractBaseUser | AnonymousUser = await database_sync_to_async(sign_in.user)()
    scope["user"] = user
    return user


class SessionAuthMiddleware:
    """scope["cookies"], scope["session"] and scope["sign_in"] for the inner application;
    scope["user"] is UNCHECKED until a consumer checks it (signed_in_user, user_from)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        cookies = cookies_of(scope)
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        if session_key:
            sign_in = await database_sync_to_async(open_session)(session_key)
        else:
            # No cookie: nothing to read, so no trip to the database thread.
            sign_in = open_session(None)
        scope = dict(scope, cookies=cookies, session=sign_in.store, sign_in=sign_in, user=UNCHECKED)
        return await self.inner(scope, receive, send)
