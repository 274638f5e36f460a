"""/v1 at the HTTP level, against a live daphne: refusals and their `param`, the usage
ledger, and a client that goes away mid-answer (the upstream request is closed)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import openai
import pytest

from tests.api.v1_server import V1Server
from tests.upstream import expected_text

pytestmark = pytest.mark.slow


def post(v1: V1Server, body: Any, token: str = "alice", **headers: str) -> httpx.Response:
    return httpx.post(
        v1.base_url + "/chat/completions",
        headers={"Authorization": f"Bearer {v1.secret(token)}", **headers},
        content=json.dumps(body),
        timeout=20,
    )


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"model": "fake-model", "messages": HI, "tools": [{"type": "function"}]},
         "unsupported_parameter", "tools"),
        ({"model": "fake-model", "messages": HI, "tool_choice": "auto"},
         "unsupported_parameter", "tool_choice"),
        ({"model": "fake-model", "messages": HI, "functions": [{}]},
         "unsupported_parameter", "functions"),
        ({"model": "fake-model", "messages": HI, "n": 2}, "unsupported_parameter", "n"),
        ({"model": "fake-model", "messages": HI, "logprobs": True},
         "unsupported_parameter", "logprobs"),
        ({"model": "fake-model", "messages": HI, "top_logprobs": 3},
         "unsupported_parameter", "top_logprobs"),
        ({"messages": HI}, "invalid_request", "model"),
        ({"model": "fake-model", "messages": []}, "invalid_request", "messages"),
        ({"model": "fake-model", "messages": [{"role": "tool", "content": "x"}]},
         "invalid_request", "messages[0].role"),
        ({"model": "fake-model", "messages": [{"role": "user", "content": 3}]},
         "invalid_request", "messages[0].content"),
        ({"model": "fake-model",
          "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
         "invalid_request", "messages[0].content[0].image_url"),
        ({"model": "fake-model", "messages": HI, "temperature": 3},
         "invalid_request", "temperature"),
        ({"model": "fake-model", "messages": HI, "top_p": "high"}, "invalid_request", "top_p"),
        ({"model": "fake-model", "messages": HI, "max_tokens": 0},
         "invalid_request", "max_tokens"),
        ({"model": "fake-model", "messages": HI, "stop": ["a", "b", "c", "d", "e"]},
         "invalid_request", "stop"),
        ([1, 2], "invalid_request", None),
    ],
)  # fmt: skip
def test_a_bad_or_unsupported_body_is_refused_naming_the_parameter(
    v1: V1Server, body: Any, code: str, param: str | None
):
    before = len(v1.upstream.chat_requests)
    response = post(v1, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    assert error["message"]
    assert len(v1.upstream.chat_requests) == before


def test_the_sdk_reports_the_refused_parameter(v1: V1Server):
    with (
        openai.OpenAI(base_url=v1.base_url, api_key=v1.secret("alice")) as sdk,
        pytest.raises(openai.BadRequestError) as refused,
    ):
        sdk.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f"}}],
        )
    assert refused.value.param == "tools"
    assert refused.value.code == "unsupported_parameter"


def test_sampling_parameters_reach_the_upstream(v1: V1Server):
    body = {
        "model": "fake-model",
        "messages": [{"role": "developer", "content": "Be brief."}, *HI],
        "temperature": 0.3, "top_p": 0.9, "max_completion_tokens": 50, "stop": "END",
        "user": "someone", "n": 1,
    }  # fmt: skip
    assert post(v1, body).status_code == 200
    sent = v1.upstream.chat_requests[-1].json
    assert sent["temperature"] == 0.3
    assert sent["top_p"] == 0.9
    assert sent["max_tokens"] == 50
    assert sent["stop"] == ["END"]
    assert "user" not in sent
    assert "n" not in sent
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


def test_the_token_goes_in_a_header_never_in_the_query_string(v1: V1Server):
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "[[fake tokens=2]]"}]}
    by_api_key = httpx.post(
        v1.base_url + "/chat/completions",
        headers={"X-Api-Key": v1.secret("alice")},
        json=body,
        timeout=20,
    )
    assert by_api_key.status_code == 200
    by_query = httpx.post(
        v1.base_url + "/chat/completions",
        params={"api_key": v1.secret("alice"), "token": v1.secret("alice")},
        json=body,
        timeout=20,
    )
    assert by_query.status_code == 401
    assert by_query.json()["error"]["code"] == "invalid_api_key"
    assert by_query.headers["www-authenticate"].startswith("Bearer")


def test_a_wrong_method_is_refused(v1: V1Server):
    headers = {"Authorization": f"Bearer {v1.secret('alice')}"}
    assert httpx.get(v1.base_url + "/chat/completions", headers=headers).status_code == 405
    assert httpx.post(v1.base_url + "/models", headers=headers).status_code == 405


def test_every_call_is_a_usage_row_of_kind_api_naming_the_token(v1: V1Server):
    before = len(v1.usage_rows("chat_only"))
    body = {"model": "fake-model-2", "messages": [{"role": "user", "content": "[[fake tokens=7]]"}]}
    assert post(v1, body, token="chat_only").status_code == 200
    assert post(v1, {**body, "stream": True}, token="chat_only").status_code == 200
    rows = v1.wait_for_rows("chat_only", before + 2)[before:]
    assert [(r["kind"], r["outcome"], r["model"], r["username"]) for r in rows] == [
        ("api", "done", "fake-model-2", "alice")
    ] * 2
    assert all(r["completion_tokens"] == 7 and not r["estimated"] for r in rows)
    assert all(r["conversation_id"] is None and r["message_id"] is None for r in rows)


def open_stream(v1: V1Server, token: str, content: str) -> socket.socket:
    """A streamed completion on a raw socket, read until its first text (the caller closes
    the socket: a client that leaves)."""
    message = {"role": "user", "content": content}
    body = json.dumps({"model": "fake-model", "messages": [message], "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", v1.daphne.port), timeout=10)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (v1.secret(token).encode(), len(body), body)
    )
    received = b""
    while b"r0w0" not in received:
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    return sock


def test_answers_at_a_time_count_api_completions(v1: V1Server):
    # erin may have one answer at a time: a second completion waits for the first.
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "[[fake tokens=1]]"}]}
    with open_stream(v1, "erin", "hi [[fake tokens=5 hang_after=1]]"):
        refused = post(v1, body, token="erin")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_answers"
        assert refused.headers["x-should-retry"] == "false"
        assert "retry-after" not in refused.headers  # it frees up when the first ends
    for _ in range(50):  # the first one's end is recorded just after its client left
        accepted = post(v1, body, token="erin")
        if accepted.status_code == 200:
            break
        time.sleep(0.1)
    assert accepted.status_code == 200, accepted.text


def test_a_client_that_leaves_mid_stream_stops_the_upstream_and_is_recorded_stopped(
    v1: V1Server,
):
    before = len(v1.usage_rows("alice"))
    message = {"role": "user", "content": "hi [[fake tokens=200 delay=0.05]]"}
    body = json.dumps({"model": "fake-model", "messages": [message], "stream": True}).encode()
    requests_before = len(v1.upstream.chat_requests)
    # A raw socket, closed at once: httpx would rather read the rest of the body first.
    with socket.create_connection(("127.0.0.1", v1.daphne.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (v1.secret("alice").encode(), len(body), body)
        )
        received = b""
        while received.count(b"r0w") < 3:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
    # The client is gone: the app closes its upstream request, and the upstream sees it.
    upstream = v1.upstream.chat_requests[requests_before]
    assert upstream.finished.wait(10)
    assert upstream.client_disconnected
    assert upstream.tokens_sent < 200
    rows = v1.wait_for_rows("alice", before + 1)[before:]
    assert [(r["kind"], r["outcome"], r["api_token"]) for r in rows] == [
        ("api", "stopped", v1.public_id("alice"))
    ]
    assert 3 <= rows[0]["completion_tokens"] < 200
    assert rows[0]["estimated"]  # stopped before the upstream's usage chunk


def test_the_whole_answer_is_the_streamed_text(v1: V1Server):
    body = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "[[fake tokens=30 burst=1]]"}],
    }
    whole = post(v1, body).json()
    assert whole["object"] == "chat.completion"
    assert whole["choices"][0]["message"]["content"] == expected_text(30)
    assert whole["usage"]["total_tokens"] == whole["usage"]["prompt_tokens"] + 30
