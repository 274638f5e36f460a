"""SocketSignIn.user_from (accounts/sockets.py) against Django's own get_user, case by case:
the socket checks a user's row read with its conversation by the same rules."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import sockets

pytestmark = pytest.mark.django_db


def _sign_in_of(user: Any) -> sockets.SocketSignIn:
    client = Client()
    client.force_login(user)
    return sockets.open_session(client.cookies[django_settings.SESSION_COOKIE_NAME].value)


def _same_as_get_user(sign_in: sockets.SocketSignIn, row: Any) -> Any:
    """user_from(row) and Django's get_user() on a copy of the same session agree."""
    from django.contrib.auth import get_user

    twin = sockets.open_session(sign_in.store.session_key)
    expected = get_user(sockets._HandshakeRequest(twin.store))  # type: ignore[arg-type]
    got = sign_in.user_from(row)
    assert (got.is_authenticated, got.pk) == (expected.is_authenticated, expected.pk)
    return got


def _row(user: Any) -> Any:
    return type(user).objects.get(pk=user.pk)


@pytest.mark.parametrize("backend", ["model", "sso", "allow_all"])
@pytest.mark.parametrize(
    "case", ["valid", "password_changed", "inactive", "fallback_key", "retired_key", "no_row"]
)
def test_user_from_a_row_follows_djangos_get_user(alice, settings, case, backend):
    paths = {
        "model": "django.contrib.auth.backends.ModelBackend",
        "sso": "accounts.sso.SSOBackend",
        "allow_all": "django.contrib.auth.backends.AllowAllUsersModelBackend",
    }
    settings.AUTHENTICATION_BACKENDS = [paths[backend]]
    if case in ("fallback_key", "retired_key"):
        settings.SECRET_KEY = "the-old-secret-key-" + "o" * 40
    sign_in = _sign_in_of(alice)
    if case == "password_changed":
        alice.set_password("a-brand-new-password-9")
        alice.save()
    elif case == "inactive":
        type(alice).objects.filter(pk=alice.pk).update(is_active=False)
    elif case in ("fallback_key", "retired_key"):
        settings.SECRET_KEY = "the-new-secret-key-" + "n" * 40
        if case == "fallback_key":
            settings.SECRET_KEY_FALLBACKS = ["the-old-secret-key-" + "o" * 40]
    got = _same_as_get_user(sign_in, None if case == "no_row" else _row(alice))
    accepted = case in ("valid", "fallback_key", "no_row") or (
        case == "inactive" and backend == "allow_all"
    )
    assert got.is_authenticated is accepted
    # As get_user: a session failing the hash check is flushed; any other kept.
    stored = Session.objects.filter(session_key=sign_in.store.session_key).exists()
    assert stored is (case not in ("password_changed", "retired_key"))


def test_user_from_refuses_a_backend_no_longer_configured_and_another_users_row(
    alice, bob, settings
):
    sign_in = _sign_in_of(alice)
    # Another user's row stands in for nothing: get_user reads alice's own.
    assert _same_as_get_user(sign_in, _row(bob)).pk == alice.pk
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.AllowAllUsersModelBackend"]
    assert not _same_as_get_user(sign_in, _row(alice)).is_authenticated


def test_user_from_lets_a_backend_with_its_own_get_user_read_the_user(alice, settings):
    settings.AUTHENTICATION_BACKENDS = ["tests.accounts.test_socket_sign_in.OnlyBackend"]
    sign_in = _sign_in_of(alice)
    assert not sign_in.user_from(_row(alice)).is_authenticated  # its get_user says no one


class OnlyBackend:
    """A backend whose get_user is its own (user_from must not stand in for it)."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def get_user(self, user_id: Any) -> None:
        return None

    def user_can_authenticate(self, user: Any) -> bool:
        return True
