"""What one process's sockets may hold, all together (docs/security.md, "Memory per process").

Two budgets that a cap per socket cannot give:

- Open sockets per user (`WS_MAX_SOCKETS_PER_USER`): the consumer asks `admit()` when a
  signed-in socket connects and calls `release()` when it goes; the socket over the limit
  is closed with events.CLOSE_TOO_MANY_SOCKETS (4409). One dict for the process, so every
  conversation and tab of a user counts (per instance: each daphne keeps its own).
- Unread outgoing bytes across every socket (`WS_MAX_BUFFERED_BYTES_TOTAL`):
  `UnreadBytes` is told, after each frame, how much a socket's transport still holds;
  once the total is over the budget the sockets holding the most are dropped first
  (the launcher, streaming/server.py, closes them with 4008).

And `trim()`: glibc keeps freed memory in its heap for reuse rather than returning it,
so the megabytes a dropped socket held stay in the process's RSS; malloc_trim(0) hands
the free pages back.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any

from django.conf import settings

_lock = threading.Lock()
_open_per_user: dict[Any, int] = {}
_admitted: dict[str, Any] = {}  # a consumer's channel name -> its user's id


def admit(consumer: Any, user_id: Any) -> bool:
    """Count a signed-in socket against its user's limit; False if it is one too many.

    The count is released by release(), or when the consumer is collected if its
    disconnect never ran.
    """
    limit: int = settings.WS_MAX_SOCKETS_PER_USER
    key: str = consumer.channel_name
    with _lock:
        if key in _admitted:
            return True
        if limit and _open_per_user.get(user_id, 0) >= limit:
            return False
        _open_per_user[user_id] = _open_per_user.get(user_id, 0) + 1
        _admitted[key] = user_id
    weakref.finalize(consumer, _release, key)
    return True


def release(consumer: Any) -> None:
    """The socket is gone: its place is free again (once, however often it is called)."""
    _release(consumer.channel_name)


def _release(key: str) -> None:
    with _lock:
        user_id = _admitted.pop(key, None)
        if user_id is None:
            return
        left = _open_per_user.get(user_id, 1) - 1
        if left > 0:
            _open_per_user[user_id] = left
        else:
            _open_per_user.pop(user_id, None)


def open_count() -> int:
    """Signed-in sockets open in this process (the sockets-open gauge)."""
    return len(_admitted)


def open_users() -> list[Any]:
    """The users with a socket open in this process."""
    with _lock:
        return list(_open_per_user)


def open_sockets(user_id: Any) -> int:
    with _lock:
        return _open_per_user.get(user_id, 0)


class UnreadBytes:
    """The bytes each socket's transport holds unread, and their total, for one process.

    A socket's figure is what it held after the last frame sent to it: an upper bound,
    since a client that reads drains it meanwhile. Only sockets holding something are
    kept, so a process of fast readers keeps an empty dict. Used from the reactor's thread.
    """

    def __init__(self, measure: Callable[[Hashable], int]) -> None:
        self.measure = measure
        self.holding: dict[Hashable, int] = {}
        self.total = 0

    def note(self, sock: Hashable, held: int) -> None:
        self.total += held - self.holding.pop(sock, 0)
        if held > 0:
            self.holding[sock] = held

    def forget(self, sock: Hashable) -> int:
        held = self.holding.pop(sock, 0)
        self.total -= held
        return held

    def over_budget(self, budget: int) -> list[Hashable]:
        """The sockets to drop, most unread bytes first, to bring the total under budget.

        Nothing is dropped on stale figures: each socket is measured again first.
        """
        if self.total <= budget:
            return []
        for sock in list(self.holding):
            self.note(sock, self.measure(sock))
        victims: list[Hashable] = []
        for sock, held in sorted(self.holding.items(), key=lambda item: item[1], reverse=True):
            if self.total <= budget:
                break
            victims.append(sock)
            self.total -= held
            del self.holding[sock]
        return victims


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    with contextlib.suppress(OSError, AttributeError):
        function: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
        return function
    return None  # not glibc (musl has no malloc_trim)


_trim = _malloc_trim()


def trim() -> bool:
    """Give the allocator's free pages back to the system (glibc); False where it cannot."""
    if _trim is None:
        return False
    _trim(0)
    return True
