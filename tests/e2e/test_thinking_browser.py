"""A reasoning model's thinking in a real browser: a "Thinking" block above the answer,
open while the thinking streams, folded with its duration once the answer begins, and
the same after a reload (rendered by the server). Screenshots: desktop and phone, light
and dark (E2E_SCREENSHOTS keeps them to be looked at)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, new_context, open_page, sign_in
from tests.servers import Daphne
from tests.upstream import expected_text, expected_thinking

pytestmark = pytest.mark.e2e

THOUGHT_FOR = re.compile(r"^Thought for \d+ s$")


def start_chat(page: Any, text: str) -> None:
    page.goto("/")
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")


@pytest.mark.parametrize("form", ["field", "tag"])
def test_the_thinking_streams_open_then_folds_with_its_duration(page: Any, form: str) -> None:
    start_chat(page, f"[[fake think=40 thinkform={form} tokens=40 delay=0.04]] why?")

    answer = page.locator(".msg-assistant").last
    block = answer.locator("[data-thinking]")
    # While only thinking has come: open, "Thinking…", the thinking so far as text.
    expect(block.locator("[data-thinking-text]")).to_contain_text("t5 t6")
    assert block.evaluate("b => b.open && !b.hidden")
    expect(block.locator("[data-thinking-label]")).to_have_text("Thinking…")
    assert answer.locator(".markdown").inner_text().strip() == ""

    # The answer begins: the block folds and says how long the model thought.
    page.wait_for_function(
        "() => document.querySelector('.msg-assistant.is-streaming .markdown')"
        "?.textContent.includes('r0w3')"
    )
    expect(block.locator("[data-thinking-label]")).to_have_text(THOUGHT_FOR)
    assert block.evaluate("b => !b.open")

    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    assert answer.locator(".markdown").inner_text().strip() == expected_text(40)
    assert block.locator("[data-thinking-text]").text_content() == expected_thinking(40)
    assert "think>" not in answer.inner_text()

    page.reload()
    answer = page.locator('.msg-assistant[data-status="done"]')
    block = answer.locator("[data-thinking]")
    expect(block).to_be_attached()
    assert block.evaluate("b => !b.open && !b.hidden")
    expect(block.locator("[data-thinking-label]")).to_have_text(THOUGHT_FOR)
    block.locator("summary").click()
    expect(block.locator("[data-thinking-text]")).to_be_visible()
    assert block.locator("[data-thinking-text]").text_content() == expected_thinking(40)


def test_screenshots(browser: Any, app: Daphne, shots: Path) -> None:
    context = new_context(browser, app)
    page = context.new_page()
    sign_in(page)
    start_chat(page, "[[fake think=60 thinkform=tag tokens=30 delay=0.03]] Is 2 + 2 four?")
    expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(1)
    chat_url = page.url
    # One answer left thinking, for the live picture.
    page.fill("#composer-text", "[[fake think=400 tokens=5 delay=0.05]] and 3 + 3?")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-assistant.is-streaming [data-thinking-text]")).to_contain_text("t20")
    page.screenshot(path=str(shots / "thinking-live-desktop-light.png"))
    page.locator("#stop-btn").click()
    expect(page.locator('.msg-assistant[data-status="stopped"]')).to_have_count(1)
    context.close()

    for size, viewport in SIZES.items():
        for scheme in ("light", "dark"):
            p = open_page(browser, app, reuse_session=True, viewport=viewport, color_scheme=scheme)
            errors = p.errors
            context = p.context
            p.goto(chat_url)
            first = p.locator(".msg-assistant").first
            first.locator("[data-thinking] summary").click()
            expect(first.locator("[data-thinking-text]")).to_be_visible()
            first.scroll_into_view_if_needed()
            p.screenshot(path=str(shots / f"thinking-{size}-{scheme}.png"))
            context.close()
            assert not errors, errors
