"""The Prometheus endpoint (chatweb/prometheus.py) scraped while answers stream through the
real ASGI application and the real local upstream; its access rules; off by default.
Runs on both configurations (the suite's DATABASE_URL / REDIS_URL)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import AsyncClient, Client
from prometheus_client.parser import text_string_to_metric_families

from chatweb import logs
from streaming.registry import registry
from tests.conftest import frames_until, is_done
from tests.upstream import FakeUpstream

TOKEN = "scrape-token-0123456789"


def scrape_text(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(**headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await AsyncClient().get(
        "/metrics", headers={"Authorization": f"Bearer {TOKEN}", **headers}
    )
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    return scrape_text(response.content.decode())


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def prometheus_on(settings: Any) -> None:
    settings.PROMETHEUS_ENABLED = True
    settings.PROMETHEUS_TOKEN = TOKEN
    settings.PROMETHEUS_ALLOWED_NETWORKS = []


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The process's log lines as LOG_FORMAT=json writes them (the settings' filter and
    formatter on a handler of the root logger)."""
    import chatweb.asgi  # noqa: F401  (its django.setup() configures logging anew)

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def open_socket(user: Any, conversation_id: int, request_id: str) -> WebsocketCommunicator:
    from chatweb.asgi import application

    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    socket = WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation_id}/",
        headers=[
            (b"origin", b"http://testserver"),
            (b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()),
            (b"x-request-id", request_id.encode()),
        ],
    )
    connected, code = await socket.connect(timeout=5)
    assert connected, code
    return socket


async def answers_ended() -> None:
    """Every answer's task has returned (its `done` goes out just before)."""
    tasks = [task for _, task in registry.running.values()]
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    assert not registry.running


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_streaming_answer_is_counted_while_it_streams_and_once_it_ends(
    live: None, alice: Any, conversation: Any, upstream: FakeUpstream, prometheus_on: None,
    json_lines: io.StringIO,
) -> None:  # fmt: skip
    before = await scrape()
    socket = await open_socket(alice, conversation.pk, "socket-request-1")
    try:
        await socket.send_json_to({"type": "send", "text": "[[fake hang_after=3]] hi"})
        await frames_until(socket, lambda f: f["type"] == "delta")
        while_streaming = await scrape()
        assert value(while_streaming, "chatweb_answers_in_flight", kind="answer") == 1
        assert value(while_streaming, "chatweb_sockets_open") >= 1
        ttft = "chatweb_time_to_first_token_seconds_count"
        assert value(while_streaming, ttft, kind="answer") == value(before, ttft, kind="answer") + 1
        assert value(while_streaming, "chatweb_time_to_first_token_seconds_sum", kind="answer") > 0

        await socket.send_json_to({"type": "stop"})
        done = (await frames_until(socket, is_done))[-1]["message"]
        assert done["status"] == "stopped"
        await answers_ended()
        after = await scrape()
    finally:
        await socket.disconnect()

    assert value(after, "chatweb_answers_in_flight", kind="answer") == 0
    stopped = value(after, "chatweb_answers_total", kind="answer", outcome="stopped")
    assert stopped == value(before, "chatweb_answers_total", kind="answer", outcome="stopped") + 1
    # The stopped request's tokens, counted as the ledger counts them (3 tokens received).
    for kind in ("prompt", "completion"):
        grown = value(after, "chatweb_tokens_total", model="fake-model", type=kind) - value(
            before, "chatweb_tokens_total", model="fake-model", type=kind
        )
        assert grown > 0, kind
    assert value(after, "process_resident_memory_bytes") > 0  # prometheus-client's own

    # The answer's own lines carry the socket's request id, though its task outlived the
    # frame that started it.
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    mine = [line for line in lines if line["message"].startswith(f"Answer {done['id']} ")]
    assert [line["message"].split(":")[0] for line in mine] == [
        f"Answer {done['id']} started (fake-model)",
        f"Answer {done['id']} ended",
    ]
    assert {line["request_id"] for line in mine} == {"socket-request-1"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_upstream_error_is_counted_by_its_code(
    live: None, alice: Any, conversation: Any, upstream: FakeUpstream, prometheus_on: None
) -> None:
    before = await scrape()
    socket = await open_socket(alice, conversation.pk, "socket-request-2")
    try:
        await socket.send_json_to({"type": "send", "text": "[[fake status=500]] hi"})
        done = (await frames_until(socket, is_done))[-1]["message"]
        await answers_ended()
    finally:
        await socket.disconnect()
    assert done["error_code"] == "upstream_http_error"
    after = await scrape()
    code = {"code": "upstream_http_error"}
    errors = "chatweb_upstream_errors_total"
    assert value(after, errors, **code) == value(before, errors, **code) + 1
    failed = value(after, "chatweb_answers_total", kind="answer", outcome="error")
    assert failed == value(before, "chatweb_answers_total", kind="answer", outcome="error") + 1


@pytest.mark.django_db
def test_it_is_off_by_default(client: Client, settings: Any) -> None:
    assert settings.PROMETHEUS_ENABLED is False
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


@pytest.mark.django_db
def test_without_the_token_it_refuses(client: Client, prometheus_on: None) -> None:
    assert client.get("/metrics").status_code == 403
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token-0123456").status_code == 403
    )
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.django_db
def test_only_allowed_networks_reach_it_directly(client: Client, settings: Any) -> None:
    settings.PROMETHEUS_ENABLED = True
    settings.PROMETHEUS_TOKEN = ""
    settings.PROMETHEUS_ALLOWED_NETWORKS = logs.networks(["10.0.0.0/8"])
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.5").status_code == 403
    # Through a proxy (daphne --proxy-headers believes X-Forwarded-For): refused.
    proxied = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert proxied.status_code == 403


@pytest.mark.django_db
def test_with_both_rules_both_must_pass(client: Client, settings: Any) -> None:
    settings.PROMETHEUS_ENABLED = True
    settings.PROMETHEUS_TOKEN = TOKEN
    settings.PROMETHEUS_ALLOWED_NETWORKS = logs.networks(["127.0.0.1"])
    bearer = f"Bearer {TOKEN}"
    assert client.get("/metrics", HTTP_AUTHORIZATION=bearer).status_code == 200
    assert client.get("/metrics").status_code == 403
    other = client.get("/metrics", HTTP_AUTHORIZATION=bearer, REMOTE_ADDR="10.0.0.1")
    assert other.status_code == 403
