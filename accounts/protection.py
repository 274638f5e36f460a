"""Account protections: sign-in and sign-up throttling, and closing the sockets of a
session that ends (sign-out) or an account that no longer may sign in.

Throttle counters live in the Django cache (Redis in production), so they hold across
instances. docs/security.md says what each defends and which test proves it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import time
from collections.abc import Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit import record
from audit.models import Action
from realtime import events
from realtime.publish import close_sockets

THROTTLED = "throttled"


def client_address(request: HttpRequest | None) -> str:
    """The client's address: REMOTE_ADDR, never a header the client could write.

    Behind the bundled nginx, daphne's --proxy-headers sets it from X-Forwarded-For,
    which nginx overwrites with the address it saw (nginx/chatweb.conf.template), so a
    client cannot choose it; without a proxy it is the socket's peer.
    """
    return str(request.META.get("REMOTE_ADDR", "")) if request is not None else ""


# The throttles' clock (tests move it instead of sleeping).
clock = time.time


def _key(kind: str, value: str) -> str:
    return f"chatweb:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def _hit(key: str, window: int) -> int:
    """Count one event in a fixed window that starts with the window's first event;
    returns the count so far."""
    if cache.add(key, 1, timeout=window):
        cache.set(f"{key}:start", clock(), timeout=window)
        return 1
    if _window_left(key, window) <= 0:  # Ended by the clock; the cache has not seen it yet.
        cache.set_many({key: 1, f"{key}:start": clock()}, timeout=window)
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # Expired between add and incr.
        return _hit(key, window)


def _wait(key: str, limit: int, window: int) -> int:
    """Seconds until the window of `key` ends if it holds `limit` events, else 0."""
    if limit <= 0 or int(cache.get(key, 0)) < limit:
        return 0
    return max(0, _window_left(key, window))


def _window_left(key: str, window: int) -> int:
    """Whole seconds left in the window of `key` (0 or less: it has ended)."""
    started = float(cache.get(f"{key}:start", clock()))
    return math.ceil(started + window - clock())


def wait_message(seconds: int, what: str) -> str:
    """`what`, then when to try again, in the active language."""
    minutes = -(-seconds // 60)
    if seconds >= 60:
        when = ngettext("%(count)s minute", "%(count)s minutes", minutes) % {"count": minutes}
    else:
        when = _("%(count)s s") % {"count": seconds}
    return _("%(what)s Try again in %(when)s.") % {"what": what, "when": when}


# --- Sign-in ---------------------------------------------------------------------------
#
# Failures are counted three ways, in windows of LOGIN_LOCKOUT_SECONDS:
# - per (account, address): LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS, then that account is
#   refused from that address until the window ends. Someone guessing from elsewhere
#   does not lock the owner out.
# - per address: LOGIN_FAILURES_PER_ADDRESS, then every account is refused from it.
# - per account alone (guessing spread over many addresses): past
#   LOGIN_FAILURES_PER_ACCOUNT, a try on the account waits 1, 2, 4 ... seconds after its
#   last failure (at most LOGIN_SLOWDOWN_MAX_SECONDS): a slowdown, never a lockout, and
#   not at an address the account signed in from in the last KNOWN_ADDRESS_SECONDS.
#
# Every lock and slowdown is listed for admins (locks()) and can be lifted (lift()).

KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600
_INDEX = "chatweb:login-locks"
_INDEX_MUTEX = "chatweb:login-locks:mutex"

PAIR, ADDRESS, ACCOUNT = "account-address", "address", "account"


@dataclasses.dataclass(frozen=True)
class Lock:
    """One lock or slowdown in force, as the admin's list shows it."""

    id: str
    kind: str  # PAIR, ADDRESS or ACCOUNT
    username: str
    address: str
    failures: int
    until: float  # when its window ends (the clock's seconds)


def _pair_key(username: str, address: str) -> str:
    return _key("login-pair", f"{username.casefold()}\n{address}")


def _address_key(address: str) -> str:
    return _key("login-address", address)


def _account_key(username: str) -> str:
    return _key("login-account", username.casefold())


def _known_key(username: str, address: str) -> str:
    return _key("login-known", f"{username.casefold()}\n{address}")


def slowdown(failures: int) -> int:
    """Seconds a try on an account waits after its last failure, given its failures."""
    over = failures - settings.LOGIN_FAILURES_PER_ACCOUNT
    if settings.LOGIN_FAILURES_PER_ACCOUNT <= 0 or over < 0:
        return 0
    return int(min(2 ** min(over, 30), settings.LOGIN_SLOWDOWN_MAX_SECONDS))


def login_wait(username: str, address: str) -> int:
    """Seconds before this username may try again from this address (0: it may now)."""
    window = settings.LOGIN_LOCKOUT_SECONDS
    pair, by_address, account = (
        _pair_key(username, address),
        _address_key(address),
        _account_key(username),
    )
    wait = max(
        _wait(pair, settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS, window),
        _wait(by_address, settings.LOGIN_FAILURES_PER_ADDRESS, window),
    )
    if wait:
        return wait
    delay = slowdown(int(cache.get(account, 0)))
    if delay and not cache.get(_known_key(username, address)):
        last = float(cache.get(f"{account}:last", 0.0))
        return max(0, math.ceil(last + delay - clock()))
    return 0


def login_failed(username: str, address: str) -> None:
    window = settings.LOGIN_LOCKOUT_SECONDS
    limits = (
        (PAIR, _pair_key(username, address), settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS),
        (ADDRESS, _address_key(address), settings.LOGIN_FAILURES_PER_ADDRESS),
        (ACCOUNT, _account_key(username), settings.LOGIN_FAILURES_PER_ACCOUNT),
    )
    for kind, key, limit in limits:
        if limit <= 0:
            continue
        failures = _hit(key, window)
        if kind == ACCOUNT:
            cache.set(f"{key}:last", clock(), timeout=window)
        if failures >= limit:
            _listed(
                Lock(
                    id=key.rsplit(":", 1)[1],
                    kind=kind,
                    username="" if kind == ADDRESS else username,
                    address="" if kind == ACCOUNT else address,
                    failures=failures,
                    until=clock() + max(1, _window_left(key, window)),
                )
            )


def login_succeeded(username: str, address: str) -> None:
    """The right password: the pair's count ends, and the address becomes one the
    account's owner uses (not slowed down by failures from elsewhere)."""
    key = _pair_key(username, address)
    cache.delete_many([key, f"{key}:start"])
    cache.set(_known_key(username, address), 1, timeout=KNOWN_ADDRESS_SECONDS)


# --- The list of locks (the admin's "Sign-in locks" page) -------------------------------
#
# The cache cannot list its keys (and Redis should not be scanned), so a lock, when it
# starts, is added to one index entry, a dict of the Locks in force. Instances update it
# one at a time (a short mutex: cache.add is atomic in Redis and in memory).


@contextlib.contextmanager
def _index_mutex() -> Iterator[None]:
    for _attempt in range(200):
        if cache.add(_INDEX_MUTEX, 1, timeout=5):
            break
        time.sleep(0.01)
    # Not acquired in 2 s (a holder died): go on; the worst case is a lost list entry,
    # never a lost lock (the counters are separate keys).
    try:
        yield
    finally:
        cache.delete(_INDEX_MUTEX)


def _read_index() -> dict[str, Lock]:
    """The locks listed and not ended. Stored as plain dicts (not pickled Locks), so a
    change to Lock never makes reading the list, or a sign-in, fail."""
    stored = cache.get(_INDEX)
    now = clock()
    index: dict[str, Lock] = {}
    for lock_id, fields in (stored if isinstance(stored, dict) else {}).items():
        with contextlib.suppress(TypeError, ValueError):
            lock = Lock(**fields)
            if lock.until > now:
                index[lock_id] = lock
    return index


def _listed(lock: Lock) -> None:
    with _index_mutex():
        index = _read_index()
        index[lock.id] = lock
        _store(index)


def _store(index: dict[str, Lock]) -> None:
    if not index:
        cache.delete(_INDEX)
        return
    longest = max(lock.until for lock in index.values()) - clock()
    stored = {lock_id: dataclasses.asdict(lock) for lock_id, lock in index.items()}
    cache.set(_INDEX, stored, timeout=max(1, math.ceil(longest)))


def locks() -> list[Lock]:
    """The locks and slowdowns in force, the newest ending last."""
    return sorted(_read_index().values(), key=lambda lock: lock.until)


def lift(lock_id: str) -> Lock | None:
    """End one lock or slowdown now; returns it, or None if it had already ended."""
    with _index_mutex():
        index = _read_index()
        lock = index.pop(lock_id, None)
        _store(index)
    if lock is not None:
        key = {
            PAIR: lambda: _pair_key(lock.username, lock.address),
            ADDRESS: lambda: _address_key(lock.address),
            ACCOUNT: lambda: _account_key(lock.username),
        }[lock.kind]()
        cache.delete_many([key, f"{key}:start", f"{key}:last"])
    return lock


class ThrottledLoginMixin:
    """Refuses sign-in while this account from this address, or this address, has too
    many recent failures, or while the account is slowed down.

    The check comes before the password is tried, so a refused guess learns nothing.
    """

    request: HttpRequest | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        address = client_address(self.request)
        wait = login_wait(username, address)
        if wait:
            record.record(
                Action.SIGNIN_FAILED,
                actor=None,
                target_type="auth.user",
                target_label=username[:150],
                address=address or None,
                details={"username": username[:150], "reason": THROTTLED},
            )
            raise forms.ValidationError(
                wait_message(wait, _("Too many failed sign-in attempts.")), code=THROTTLED
            )
        try:
            cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        except forms.ValidationError as exc:
            if getattr(exc, "code", None) == "invalid_login":
                login_failed(username, address)
            raise
        login_succeeded(username, address)
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
