"""chatweb/logs.py: LOG_FORMAT=json lines, and the request id that follows a request into
the answers it starts (the live path: tests/streaming/test_prometheus.py,
tests/streaming/test_prometheus_live.py)."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.db import OperationalError
from django.test import Client

from chatweb import logs
from streaming.generation import Generation
from tests.test_settings import read_settings


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    # The test client runs requests in the test's own context, where their ids stay.
    token = logs.request_id.set("")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)
    logs.request_id.reset(token)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_parses_and_carries_the_request_id_and_the_traceback(json_lines):
    log = logging.getLogger("chatweb.test")
    with logs.bound("abc-123"):
        log.warning("one %s", "two")
        try:
            raise ValueError("boom\nnext line")
        except ValueError:
            log.exception("failed")
    log.warning("outside")
    first, second, third = parsed(json_lines)
    assert first["message"] == "one two"
    assert first["level"] == "WARNING"
    assert first["logger"] == "chatweb.test"
    assert first["request_id"] == "abc-123"
    assert first["time"].endswith("+00:00")
    assert second["request_id"] == "abc-123"
    assert "ValueError: boom" in second["exception"]
    assert third["request_id"] is None


@pytest.mark.django_db
def test_a_request_logs_under_its_x_request_id_and_echoes_it(json_lines, client: Client):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="nginx-id-42")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "nginx-id-42"
    not_found = [line for line in parsed(json_lines) if line["logger"] == "django.request"]
    assert not_found
    assert {line["request_id"] for line in not_found} == {"nginx-id-42"}


@pytest.mark.django_db
def test_a_request_without_a_sane_id_gets_a_new_one(json_lines, client: Client):
    made = client.get("/no-such-page/")["X-Request-ID"]
    forged = client.get("/no-such-page/", HTTP_X_REQUEST_ID="a\nforged line")["X-Request-ID"]
    assert len(made) == len(forged) == 32
    assert made != forged
    assert {line["request_id"] for line in parsed(json_lines)} == {made, forged}


@pytest.mark.asyncio
async def test_a_failed_checkpoint_logs_under_the_answers_request_id(
    json_lines, settings, tmp_path
):
    """Checkpoints are written by a task of the process (streaming.checkpoints), which
    reports each answer's failure to it: the line is the answer's, under its id."""
    settings.DATA_DIR = tmp_path

    def make() -> Generation:
        logs.request_id.set("posted-by-request-7")
        return Generation(
            message_id=7, conversation_id=1, channel="c", layer=get_channel_layer(), provider=None
        )

    generation = contextvars.Context().run(make)
    assert logs.request_id.get() == ""

    async def checkpoints_task() -> None:
        generation.checkpointed(OperationalError("the database went away"))

    await asyncio.create_task(checkpoints_task(), context=contextvars.Context())
    spilling = generation.ending._spilling  # the text meanwhile goes to disk
    assert spilling is not None
    await spilling
    lines = [line for line in parsed(json_lines) if "checkpoint failed" in line["message"]]
    assert [line["request_id"] for line in lines] == ["posted-by-request-7"]
    assert generation.ending.spill.exists


def test_log_format_json_configures_the_json_formatter(tmp_path):
    values = read_settings(tmp_path, LOG_FORMAT="json")
    assert values.LOGGING["formatters"]["main"] == {"()": "chatweb.logs.JsonFormatter"}
    assert read_settings(tmp_path).LOGGING["formatters"]["main"] == {"format": logs.PLAIN}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"PROMETHEUS_ENABLED": "true"}, "PROMETHEUS_ENABLED needs"),
        ({"PROMETHEUS_TOKEN": "short"}, "at least 16"),
        ({"PROMETHEUS_ALLOWED_NETWORKS": "10.0.0.0/8,not-a-net"}, "'not-a-net'"),
    ],
)
def test_bad_operations_settings_fail_at_start(tmp_path, env, message):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match=message):
        read_settings(tmp_path, **env)
