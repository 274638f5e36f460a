"""The page without WebSockets: real Chromium whose every WebSocket fails before it opens
(as behind a proxy that strips Upgrade). The page takes the HTTP fallback (static/js/sse.js):
the conversation's frames as Server-Sent Events, its actions posted to /api/v1 with the
session. Streaming, a reload mid-answer, Stop, Regenerate and branches all still work."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.upstream import FakeUpstream, expected_text

pytestmark = pytest.mark.e2e

# Every WebSocket the page makes closes at once with 1006, never having opened.
BLOCK_WEBSOCKETS = """
(() => {
  window.__sockets = 0;
  class Blocked extends EventTarget {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    constructor(url) {
      super();
      window.__sockets += 1;
      this.url = url;
      this.readyState = 0;
      setTimeout(() => {
        this.readyState = 3;
        this.dispatchEvent(new Event("error"));
        this.dispatchEvent(new CloseEvent("close", { code: 1006, wasClean: false }));
      }, 20);
    }
    send() { throw new Error("not open"); }
    close() {}
  }
  window.WebSocket = Blocked;
})();
"""


def blocked(page: Any) -> Any:
    page.add_init_script(BLOCK_WEBSOCKETS)
    return page


def live_text(page: Any) -> str:
    return str(
        page.evaluate(
            "() => document.querySelector('.msg-assistant.is-streaming .markdown')"
            "?.textContent ?? ''"
        )
    ).strip()


def start_chat(page: Any, text: str) -> None:
    page.goto("/")
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator("#chat")).to_have_attribute("data-transport", "sse")


def test_without_websockets_the_answer_streams_over_sse_and_a_second_message_posts(
    page: Any,
) -> None:
    blocked(page)
    start_chat(page, "[[fake tokens=40 delay=0.02]] first")
    done = page.locator('.msg-assistant[data-status="done"]')
    expect(done).to_have_count(1)
    assert done.locator(".markdown").inner_text().strip() == expected_text(40)
    assert page.evaluate("() => window.__sockets") >= 2

    page.fill("#composer-text", "[[fake tokens=12]] second")
    page.keyboard.press("Enter")
    expect(done).to_have_count(2)
    assert done.nth(1).locator(".markdown").inner_text().strip() == expected_text(12)
    expect(page.locator(".msg-user")).to_have_count(2)
    expect(page.locator("#conn-status")).to_be_hidden()


def test_without_websockets_a_reload_mid_answer_resumes_without_gap_or_duplicate(
    page: Any,
) -> None:
    blocked(page)
    tokens = 300
    expected = expected_text(tokens)
    start_chat(page, f"[[fake tokens={tokens} delay=0.02]] count for me")
    page.wait_for_function(
        "() => document.querySelector('.msg-assistant.is-streaming .markdown')"
        "?.textContent.includes('r0w60 ')"
    )
    page.reload()
    expect(page.locator("#chat")).to_have_attribute("data-transport", "sse")
    seen: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = live_text(page)
        if not text and seen:
            break
        if text:
            seen.append(text)
        time.sleep(0.05)
    assert len(seen) > 5, "the answer was not seen streaming after the reload"
    for text in seen:
        assert expected.startswith(text), f"gap or duplicate in the live text: {text[-200:]!r}"
    answer = page.locator('.msg-assistant[data-status="done"]')
    expect(answer).to_have_count(1)
    assert answer.locator(".markdown").inner_text().strip() == expected


def test_without_websockets_stop_really_stops(page: Any, upstream: FakeUpstream) -> None:
    blocked(page)
    upstream.reset()
    tokens = 500
    start_chat(page, f"[[fake tokens={tokens} delay=0.02]] a long answer")
    page.wait_for_function(
        "() => document.querySelector('.msg-assistant.is-streaming .markdown')"
        "?.textContent.includes('r0w10 ')"
    )
    page.locator("#stop-btn").click()
    answer = page.locator('.msg-assistant[data-status="stopped"]')
    expect(answer).to_have_count(1)
    kept = answer.locator(".markdown").inner_text().strip()
    assert kept
    assert expected_text(tokens).startswith(kept)
    request = upstream.chat_requests[-1]
    assert request.finished.wait(5)
    assert request.client_disconnected
    assert request.tokens_sent < tokens


def test_without_websockets_regenerate_makes_a_branch_and_the_arrows_switch(page: Any) -> None:
    blocked(page)
    start_chat(page, "[[fake tokens=5]] twice")
    answers = page.locator('.msg-assistant[data-status="done"]')
    expect(answers).to_have_count(1)
    answers.first.hover()
    answers.first.locator(".regenerate-btn").click()
    label = page.locator(".msg-assistant [data-branch-label]").first
    expect(label).to_have_text("2/2")
    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    page.locator('.msg-assistant [data-action="switch"]').first.click()
    expect(label).to_have_text("1/2")
