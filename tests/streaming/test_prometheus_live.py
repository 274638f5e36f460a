"""/metrics and LOG_FORMAT=json on a real daphne process (streaming.server, as the image
starts it) with the real local upstream: scraped while an answer streams, refused
without the token or from a proxy, and the answer's JSON log lines carry the id of the
request that started it after that request returned."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.servers import Daphne, app_env, copy_database, csrf_post, manage, sign_in
from tests.streaming.test_prometheus import scrape_text, value
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.slow

TOKEN = "live-scrape-token-0123456789"


def scrape(server: Daphne) -> dict[Any, float]:
    response = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert response.status_code == 200, response.text[:300]
    return scrape_text(response.text)


def scrape_until(server: Daphne, condition: Any, timeout: float = 10) -> dict[Any, float]:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(server)
        if condition(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


async def stream_then_stop(server: Daphne, conversation_id: int, cookie: str) -> dict[Any, float]:
    """With the socket open: the answer streams (hang_after), is scraped, then stopped."""
    async with connect(
        f"{server.ws_url}/ws/conversations/{conversation_id}/",
        origin=server.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie, "X-Request-ID": "live-socket-5"},
        open_timeout=10,
    ) as socket:
        await socket.send(json.dumps({"type": "sync"}))
        async with asyncio.timeout(10):
            while json.loads(await socket.recv())["type"] != "snapshot":
                pass
        streaming = await asyncio.to_thread(scrape, server)
        await socket.send(json.dumps({"type": "stop"}))
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await socket.recv())
                if frame["type"] == "done":
                    assert frame["message"]["status"] == "stopped"
                    return streaming


def test_metrics_and_json_logs_of_a_real_server(
    tmp_path: Path, fake_upstream: FakeUpstream, static_root: Path, alices_database: Path
) -> None:
    env = app_env(
        tmp_path,
        static_root,
        OPENAI_API_BASE_URL=fake_upstream.base_url,
        PROMETHEUS_ENABLED="true",
        PROMETHEUS_TOKEN=TOKEN,
        LOG_FORMAT="json",
    )
    copy_database(alices_database, tmp_path)
    server = Daphne(env, tmp_path / "daphne.log")
    try:
        # Refused: no token, a wrong one.
        assert httpx.get(f"{server.url}/metrics").status_code == 403
        wrong = {"Authorization": "Bearer not-the-token-0123456789"}
        assert httpx.get(f"{server.url}/metrics", headers=wrong).status_code == 403
        before = scrape(server)

        with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            client.headers["X-Request-ID"] = "live-page-9"
            created = csrf_post(client, "/c/new/", {"text": "[[fake hang_after=3]] hello"})
            assert created.status_code == 302, created.text[:300]
            conversation_id = int(created.headers["Location"].strip("/").split("/")[-1])
        ttft = "chatweb_time_to_first_token_seconds_count"
        first = value(before, ttft, kind="answer") + 1
        scrape_until(server, lambda s: value(s, ttft, kind="answer") == first)
        streaming = asyncio.run(stream_then_stop(server, conversation_id, cookie))
        assert value(streaming, "chatweb_answers_in_flight", kind="answer") == 1
        assert value(streaming, "chatweb_sockets_open") == 1
        assert value(streaming, ttft, kind="answer") == first

        after = scrape_until(
            server, lambda s: value(s, "chatweb_answers_in_flight", kind="answer") == 0
        )
        assert value(after, "chatweb_answers_in_flight", kind="answer") == 0
        assert value(after, "chatweb_tokens_total", model="fake-model", type="completion") > 0
        assert value(after, "chatweb_tokens_total", model="fake-model", type="prompt") > 0
        assert value(after, "process_cpu_seconds_total") > 0

        # An upstream failure, counted by its code.
        with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
            failed = csrf_post(client, "/c/new/", {"text": "[[fake status=503]] hello"})
            assert failed.status_code == 302
        errors = "chatweb_upstream_errors_total"
        code = {"code": "upstream_http_error"}
        counted = scrape_until(server, lambda s: value(s, errors, **code) == 1)
        assert value(counted, errors, **code) == 1
        assert value(counted, "chatweb_answers_total", kind="answer", outcome="error") == 1

        # A /v1 completion: its own kind, its first piece timed.
        secret = manage(
            env, "shell", "-c",
            "from django.contrib.auth import get_user_model; from accounts import api_tokens; "
            "print(api_tokens.create(user=get_user_model().objects.get(username='alice'), "
            "name='scrape', scopes=['chat']).secret)",
        ).strip().splitlines()[-1]  # fmt: skip
        completion = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "live-v1-2"},
            timeout=30,
        )
        assert completion.status_code == 200, completion.text[:300]
        assert completion.headers["X-Request-ID"] == "live-v1-2"
        v1 = scrape(server)
        assert value(v1, "chatweb_answers_total", kind="completion", outcome="done") == 1
        assert value(v1, "chatweb_time_to_first_token_seconds_count", kind="completion") == 1
        assert value(v1, "chatweb_answers_in_flight", kind="completion") == 0
    finally:
        server.stop()

    lines = [
        json.loads(line)
        for line in server.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    answer = [line for line in lines if line["logger"] == "streaming.generation"]
    started = [line for line in answer if "started" in line["message"]]
    # The page's request started the first answer: its lines carry that request's id,
    # though they were written after its response (a redirect) went out.
    assert started[0]["request_id"] == "live-page-9"
    first_answer = started[0]["message"].split()[1]
    ended = [line for line in answer if line["message"].startswith(f"Answer {first_answer} ended")]
    assert [line["request_id"] for line in ended] == ["live-page-9"]
    assert all(line["time"] and line["level"] for line in lines)
