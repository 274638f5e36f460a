"""One tab too many, in a real browser: the page over WS_MAX_SOCKETS_PER_USER says so and
does not reconnect (close 4409, docs/protocol.md); the tabs already open keep working."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import watch
from tests.e2e.test_chat_browser import start_chat

pytestmark = pytest.mark.e2e

# Two sockets per user on this app: two tabs of a conversation, and the third is refused.
APP_ENV = {"WS_MAX_SOCKETS_PER_USER": "2"}


def test_the_tab_over_the_socket_limit_says_so_and_does_not_retry(page: Any, shots: Path) -> None:
    start_chat(page, "[[fake tokens=3]] hello")
    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    second = page.context.new_page()
    watch(second)
    second.goto(page.url)
    expect(second.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    third = page.context.new_page()
    watch(third)
    opened: list[str] = []
    third.on("websocket", lambda ws: opened.append(ws.url))

    third.goto(page.url)

    expect(third.locator("#conn-status")).to_have_attribute("data-close-code", "4409")
    expect(third.locator("#toasts .toast")).to_contain_text("Too many pages of this account")
    third.screenshot(path=str(shots / "socket-limit-4409.png"))
    third.evaluate("() => window.dispatchEvent(new Event('online'))")
    third.wait_for_timeout(2500)  # longer than the first reconnect delay (0.5 s ± 25 %)
    assert len(opened) == 1, opened
    # The first two tabs still have their sockets: closing one frees a place.
    assert page.locator("#conn-status").get_attribute("data-close-code") is None
    second.close()
    third.reload()
    expect(third.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    third.wait_for_timeout(1000)
    assert third.locator("#conn-status").get_attribute("data-close-code") is None
    assert not second.errors, second.errors
    assert not third.errors, third.errors
