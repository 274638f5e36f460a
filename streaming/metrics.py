"""Opt-in database counters for `make bench`: write statements and connections opened.

Off by default (METRICS_ENABLED). When off, nothing is installed: no signal receiver, no
execute wrapper, and the endpoint answers 404, so the hot path pays nothing. When on, every
new database connection is counted (the `connection_created` signal) and gets an execute
wrapper that counts INSERT/UPDATE/DELETE statements. The counters are process-wide and only
grow; the benchmark reads them before and after a load and takes the difference.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")

_lock = threading.Lock()
_counts: dict[str, int] = {
    "connections_opened": 0,
    "writes": 0,
    "inserts": 0,
    "updates": 0,
    "deletes": 0,
}
_installed = False


def write_verb(sql: str) -> str | None:
    """ "insert", "update" or "delete" if `sql` is such a statement, else None."""
    verb = sql.lstrip()[:6].upper()
    return verb.lower() if verb in WRITE_VERBS else None


def _count_writes(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    verb = write_verb(sql)
    if verb is not None:
        with _lock:
            _counts["writes"] += 1
            _counts[verb + "s"] += 1
    return execute(sql, params, many, context)


def _on_connection_created(sender: object, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    with _lock:
        _counts["connections_opened"] += 1
    # A DatabaseWrapper reconnects after every close (CONN_MAX_AGE=0): wrap it only once.
    if _count_writes not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_writes)


def install() -> None:
    """Start counting (called once at start-up, only when METRICS_ENABLED is set)."""
    global _installed
    if _installed:
        return
    connection_created.connect(_on_connection_created, dispatch_uid="chatweb-metrics")
    _installed = True


def uninstall() -> None:
    """Stop counting (tests): the receiver goes, and the wrappers of open connections."""
    global _installed
    from django.db import connections

    connection_created.disconnect(dispatch_uid="chatweb-metrics")
    for connection in connections.all(initialized_only=True):
        if _count_writes in connection.execute_wrappers:
            connection.execute_wrappers.remove(_count_writes)
    _installed = False


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def _from_loopback(request: HttpRequest) -> bool:
    """A direct local client: a loopback peer, and no proxy in between saying otherwise."""
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_X_REAL_IP" in request.META:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@require_GET
@never_cache
def metrics(request: HttpRequest) -> JsonResponse:
    """The counters as JSON; 404 unless METRICS_ENABLED, and to anyone but loopback/staff."""
    if not settings.METRICS_ENABLED:
        raise Http404
    if not (_from_loopback(request) or request.user.is_staff):
        raise Http404
    return JsonResponse(snapshot())
