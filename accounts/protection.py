"""Account protections: sign-in and sign-up throttling, and closing the sockets of a
session that ends (sign-out) or an account that no longer may sign in.

Throttle counters live in the Django cache (Redis in production), so they hold across
instances. docs/security.md says what each defends and which test proves it.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from realtime import events
from realtime.publish import close_sockets

THROTTLED = "throttled"


def client_address(request: HttpRequest | None) -> str:
    """The client's address (daphne's --proxy-headers puts nginx's X-Forwarded-For here)."""
    return str(request.META.get("REMOTE_ADDR", "")) if request is not None else ""


def _key(kind: str, value: str) -> str:
    return f"chatweb:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def _hit(key: str, window: int) -> None:
    """Count one event in a fixed window that starts with the window's first event."""
    if cache.add(key, 1, timeout=window):
        cache.set(f"{key}:start", time.time(), timeout=window)
        return
    try:
        cache.incr(key)
    except ValueError:  # Expired between add and incr.
        _hit(key, window)


def _wait(key: str, limit: int, window: int) -> int:
    """Seconds until the window of `key` ends if it holds `limit` events, else 0."""
    if limit <= 0 or int(cache.get(key, 0)) < limit:
        return 0
    started = float(cache.get(f"{key}:start", time.time()))
    return max(1, round(started + window - time.time()))


def wait_message(seconds: int, what: str) -> str:
    """`what`, then when to try again, in the active language."""
    minutes = -(-seconds // 60)
    if seconds >= 60:
        when = ngettext("%(count)s minute", "%(count)s minutes", minutes) % {"count": minutes}
    else:
        when = _("%(count)s s") % {"count": seconds}
    return _("%(what)s Try again in %(when)s.") % {"what": what, "when": when}


# --- Sign-in ---------------------------------------------------------------------------


def _login_keys(username: str, address: str) -> list[tuple[str, int]]:
    return [
        (_key("login-account", username.casefold()), settings.LOGIN_FAILURES_PER_ACCOUNT),
        (_key("login-address", address), settings.LOGIN_FAILURES_PER_ADDRESS),
    ]


def login_wait(username: str, address: str) -> int:
    """Seconds before this username or address may try again (0: it may now)."""
    window = settings.LOGIN_LOCKOUT_SECONDS
    return max(_wait(key, limit, window) for key, limit in _login_keys(username, address))


def login_failed(username: str, address: str) -> None:
    for key, limit in _login_keys(username, address):
        if limit > 0:
            _hit(key, settings.LOGIN_LOCKOUT_SECONDS)


def login_succeeded(username: str) -> None:
    key = _key("login-account", username.casefold())
    cache.delete_many([key, f"{key}:start"])


class ThrottledLoginMixin:
    """Refuses sign-in while the username or the address has too many recent failures.

    The check comes before the password is tried, so a locked-out guess learns nothing.
    """

    request: HttpRequest | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        address = client_address(self.request)
        wait = login_wait(username, address)
        if wait:
            raise forms.ValidationError(
                wait_message(wait, _("Too many failed sign-in attempts.")), code=THROTTLED
            )
        try:
            cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        except forms.ValidationError as exc:
            if getattr(exc, "code", None) == "invalid_login":
                login_failed(username, address)
            raise
        login_succeeded(username)
        return cleaned


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


# --- Sign-up ---------------------------------------------------------------------------


def signup_wait(address: str) -> int:
    return _wait(_key("signup", address), settings.SIGNUPS_PER_ADDRESS_PER_HOUR, 3600)


def signup_done(address: str) -> None:
    if settings.SIGNUPS_PER_ADDRESS_PER_HOUR > 0:
        _hit(_key("signup", address), 3600)


# --- Sockets of an ended session or a disabled account ----------------------------------


def on_logged_out(sender: object, request: HttpRequest, **kwargs: Any) -> None:
    """user_logged_out: close this session's sockets (other sessions stay signed in)."""
    session_key = request.session.session_key if hasattr(request, "session") else None
    if session_key:
        close_sockets(events.session_group(session_key), events.CLOSE_SIGNED_OUT)


def on_user_saved(sender: object, instance: Any, created: bool, **kwargs: Any) -> None:
    """post_save of a user: deactivated, or a new password (which ends other sessions)."""
    if created:
        return
    if not instance.is_active:
        close_sockets(events.user_group(instance.pk), events.CLOSE_SIGNED_OUT)
    elif getattr(instance, "_password", None) is not None:
        # set_password() was called: sessions signed in with the old password no longer
        # authenticate. The sockets reconnect; those of the sessions that still hold
        # (the one that changed it) are accepted again, the others get 4401.
        close_sockets(events.user_group(instance.pk), events.CLOSE_SESSION_CHANGED)


def on_user_deleted(sender: object, instance: Any, **kwargs: Any) -> None:
    close_sockets(events.user_group(instance.pk), events.CLOSE_SIGNED_OUT)
