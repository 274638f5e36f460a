"""The fake upstream itself: its directives, its CLI, and that it stops promptly."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.upstream import (
    HANDLER_LIMIT_S,
    FakeUpstream,
    demo_text,
    expected_text,
    parse_directive,
    title_text,
)

ROOT = Path(__file__).resolve().parent.parent


def test_the_latest_user_directive_wins_and_rounds_count_later_answers():
    messages = [
        {"role": "user", "content": "[[fake tokens=2]]"},
        {"role": "assistant", "content": "r0w0 r0w1"},
        {"role": "user", "content": "again [[fake tokens=3 length_rounds=2 delay=0.01]]"},
        {"role": "assistant", "content": expected_text(3)},
        {"role": "user", "content": "continue"},
    ]

    directive, round_ = parse_directive(messages)

    assert directive == {"tokens": 3, "length_rounds": 2, "delay": 0.01}
    assert round_ == 1


def test_rounds_are_counted_in_one_merged_assistant_message_too():
    messages = [
        {"role": "user", "content": "[[fake tokens=3 length_rounds=5]]"},
        {"role": "assistant", "content": expected_text(3, 0) + expected_text(3, 1).strip()},
        {"role": "user", "content": "continue"},
    ]

    assert parse_directive(messages)[1] == 2


def test_no_directive_means_the_demo_reply():
    assert parse_directive([{"role": "user", "content": "hello"}]) == (None, 0)


def test_the_title_is_the_first_four_words_of_the_first_user_message():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "[[fake tokens=1]] Plan a trip to Kyoto"},
    ]

    assert title_text(messages) == "Title: Plan a trip to"
    assert title_text([]) == "Title: New chat"


def test_the_demo_reply_streams_markdown():
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "Show me markdown"}],
    }
    with FakeUpstream(demo_delay_s=0.001) as upstream, httpx.Client() as client:
        response = client.post(f"{upstream.base_url}/chat/completions", json=body)

    assert response.status_code == 200
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == demo_text("Show me markdown")
    assert "**Show me markdown**" in text
    assert "```python" in text
    assert len(chunks) > 20  # Word by word.


def test_echo_replies_with_the_message_as_written_word_by_word():
    said = "Deep $$x^{x^{y}}$$\n\nand  more"
    body = {
        "model": "m",
        "stream": True,
        "messages": [
            {"role": "user", "content": f"[[fake echo=1 delay=0.001]] {said}"},
            {"role": "assistant", "content": said},
            {"role": "user", "content": "continue"},
        ],
    }
    with FakeUpstream() as upstream, httpx.Client() as client:
        response = client.post(f"{upstream.base_url}/chat/completions", json=body)

    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    chunks = [json.loads(event) for event in events[:-1]]
    pieces = [chunk["choices"][0]["delta"].get("content", "") for chunk in chunks]
    assert "".join(pieces) == said
    assert [p for p in pieces if p][:2] == ["Deep ", "$$x^{x^{y}}$$\n\n"]


def test_stop_does_not_wait_for_a_hanging_handler():
    upstream = FakeUpstream().start()
    body = {"model": "m", "messages": [{"role": "user", "content": "[[fake hang=headers]]"}]}
    errors: list[Exception] = []

    def hang() -> None:
        try:
            with httpx.Client(timeout=30) as client:
                client.post(f"{upstream.base_url}/chat/completions", json=body)
        except httpx.HTTPError as exc:
            errors.append(exc)

    caller = threading.Thread(target=hang)
    caller.start()
    upstream.wait_for_requests(1)
    started = time.monotonic()
    upstream.stop()
    caller.join(timeout=HANDLER_LIMIT_S / 2)

    # The handler would hang for HANDLER_LIMIT_S (a minute): stop() did not wait for it
    # (half of it is a bound no loaded machine reaches).
    assert time.monotonic() - started < HANDLER_LIMIT_S / 2
    assert not caller.is_alive()
    assert upstream.requests[0].finished.wait(2)
    assert not upstream.requests[0].client_disconnected  # The server left, not the client.
    assert errors  # The connection was closed without an answer.


@pytest.mark.slow
def test_the_command_line_server_answers_models():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.upstream", "--port", "0", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        base_url = first_line.split()[-1]
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")

        with httpx.Client() as client:
            response = client.get(f"{base_url}/models")

        assert response.status_code == 200
        assert "gpt-4o-mini" in [model["id"] for model in response.json()["data"]]
    finally:
        process.terminate()
        process.communicate(timeout=5)


def test_the_demo_answer_shows_markdown_code_a_table_and_math():
    """`make demo`'s answer is a tour of what Chatweb renders (server-side rendering)."""
    from conversations.markdown import render

    html = render(demo_text("hello", showcase=True))

    assert "<h3>Hello from the fake upstream</h3>" in html
    assert "<strong>hello</strong>" in html
    assert 'codehilite"><pre>' in html
    assert "<table>" in html
    assert "<th>Feature</th>" in html
    assert html.count('class="arithmatex"') >= 2
    # The tests' own answers stay plain (they count the math and tables they send).
    assert "<table>" not in render(demo_text("hello"))
