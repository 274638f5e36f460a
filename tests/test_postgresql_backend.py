"""chatweb/postgresql: the health check trusts a connection that just finished a trip
without an error, and still pings an idle one or one that had an error, against the real
server (test-pg; on SQLite there is no ping to skip: Django's sqlite3 is_usable is True)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import close_old_connections, connection, connections

from chatweb.postgresql import base as backend

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backend"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def observer() -> Iterator[psycopg.Connection[Any]]:
    """A second connection to the same server, to see what the app's connection ran."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as conn:
        yield conn


def last_statement(observer: psycopg.Connection[Any], pid: int) -> str:
    row = observer.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    assert row is not None, f"no backend {pid}"
    return str(row[0]).strip()


def trip(sql: str) -> int:
    """One trip as database_sync_to_async makes it: boundary, query, boundary."""
    close_old_connections()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        pid = connection.connection.info.backend_pid
    close_old_connections()
    return int(pid)


def test_the_engine_is_ours() -> None:
    assert isinstance(connections["default"], backend.DatabaseWrapper)
    assert getattr(connection, "health_check_enabled", False)


def test_a_connection_used_a_moment_ago_is_not_pinged(observer) -> None:
    trip("SELECT 42")
    pid = trip("SELECT 43")
    # The second trip's health check ran no SELECT 1: the last statement is the query.
    close_old_connections()
    connection.close_if_health_check_failed()
    assert last_statement(observer, pid) == "SELECT 43"


def test_an_idle_connection_is_pinged(observer, monkeypatch) -> None:
    pid = trip("SELECT 44")
    monkeypatch.setattr(backend, "HEALTH_CHECK_TRUST_SECONDS", 0.0)
    close_old_connections()
    connection.close_if_health_check_failed()
    assert last_statement(observer, pid) == "SELECT 1"


def test_a_connection_killed_while_idle_is_replaced_before_the_query(observer, monkeypatch) -> None:
    pid = trip("SELECT 45")
    observer.execute("SELECT pg_terminate_backend(%s)", [pid])
    monkeypatch.setattr(backend, "HEALTH_CHECK_TRUST_SECONDS", 0.0)
    # The ping finds it dead, so the query runs on a new connection and succeeds.
    assert trip("SELECT 46") != pid


def test_a_connection_killed_just_after_use_fails_once_then_is_replaced(observer) -> None:
    pid = trip("SELECT 47")
    observer.execute("SELECT pg_terminate_backend(%s)", [pid])
    # Trusted: no ping, so the one query finds it broken (as without health checks)...
    with pytest.raises(Exception):  # noqa: B017, PT011 (OperationalError or InterfaceError)
        trip("SELECT 48")
    # ...and that error makes the next trip check it and connect again.
    assert trip("SELECT 49") != pid
