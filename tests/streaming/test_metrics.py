"""The opt-in database counters (streaming/metrics.py) that `make bench` reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.test import Client
from django.urls import reverse

from streaming import metrics


@pytest.fixture
def counting(settings: Any) -> Iterator[None]:
    settings.METRICS_ENABLED = True
    metrics.install()
    yield
    metrics.uninstall()


def test_nothing_is_installed_when_disabled() -> None:
    # The default: no receiver on connection_created, no wrapper on the connection.
    receivers = [r[1]() for r in connection_created.receivers]
    assert metrics._on_connection_created not in receivers
    assert metrics._count_writes not in connection.execute_wrappers


@pytest.mark.django_db
def test_the_endpoint_is_404_when_disabled(client: Client) -> None:
    assert client.get(reverse("metrics")).status_code == 404


@pytest.mark.django_db
def test_it_counts_connections_opened_and_write_statements(counting: None) -> None:
    before = metrics.snapshot()
    fresh = connections.create_connection("default")
    try:
        fresh.ensure_connection()
        # Reconnecting (CONN_MAX_AGE=0 does it all the time) reuses the wrapper object:
        # its statements must still count once.
        fresh.connection.close()
        fresh.connect()
        with fresh.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE bench_t (a integer)")
            cursor.execute("INSERT INTO bench_t VALUES (1)")
            cursor.executemany("INSERT INTO bench_t VALUES (%s)", [(2,), (3,)])
            cursor.execute("UPDATE bench_t SET a = 4")
            cursor.execute("SELECT a FROM bench_t")
            cursor.execute("DELETE FROM bench_t")
    finally:
        fresh.close()

    after = metrics.snapshot()
    delta = {key: after[key] - before[key] for key in after}
    assert delta == {
        "connections_opened": 2,
        "inserts": 2,  # A statement run for many rows counts once.
        "updates": 1,
        "deletes": 1,
        "writes": 4,
    }


@pytest.mark.django_db
def test_the_endpoint_answers_loopback_and_staff_only(
    counting: None, client: Client, django_user_model: Any
) -> None:
    url = reverse("metrics")
    response = client.get(url, REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert set(response.json()) >= {"writes", "connections_opened"}
    assert client.get(url, REMOTE_ADDR="203.0.113.9").status_code == 404
    # Behind a proxy every client comes from loopback: a forwarded request is not local.
    assert (
        client.get(url, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code
        == 404
    )

    member = django_user_model.objects.create_user("bob", password="x")
    client.force_login(member)
    assert client.get(url, REMOTE_ADDR="203.0.113.9").status_code == 404
    staff = django_user_model.objects.create_user("root", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(url, REMOTE_ADDR="203.0.113.9").status_code == 200


def test_write_verb_recognises_only_writes() -> None:
    assert metrics.write_verb("  insert into x values (1)") == "insert"
    assert metrics.write_verb('UPDATE "x" SET a = 1') == "update"
    assert metrics.write_verb("DELETE FROM x") == "delete"
    assert metrics.write_verb("SELECT 1") is None
    assert metrics.write_verb("SAVEPOINT s1") is None
