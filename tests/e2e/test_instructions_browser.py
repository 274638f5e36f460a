"""Custom instructions in a real browser (#22, item 4): set on the settings page, sent
upstream with a new chat (the real fake upstream's recorded request body), shown in the
chat's settings panel and switched off there for that conversation. Screenshots: desktop
and phone, light and dark, and in Simplified Chinese."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, close_page, open_page, run_axe
from tests.servers import Daphne
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e

APP_ENV = {"SYSTEM_PROMPT": "Site prompt."}
ABOUT = "I grow tomatoes on a balcony in Lyon."
STYLE = "Answer in two sentences at most."
INSTRUCTIONS = (
    "The user's custom instructions.\n\n"
    f"What the user wants you to know about them:\n{ABOUT}\n\n"
    f"How the user wants you to answer:\n{STYLE}"
)


def last_system_message(upstream: FakeUpstream) -> Any:
    answers = [r for r in upstream.chat_requests if r.body.get("stream")]
    return answers[-1].body["messages"][0]


def ask(page: Any, text: str, answers: int) -> None:
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(answers)


def test_instructions_are_sent_and_switched_off_for_one_chat(
    page: Any, upstream: FakeUpstream
) -> None:
    page.goto("/settings/")
    page.fill("#id_instructions_about", ABOUT)
    page.fill("#id_instructions_style", STYLE)
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").first).to_contain_text("Your settings are saved.")

    page.goto("/")
    page.fill("#composer-text", "[[fake tokens=3]] what to plant?")
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    assert last_system_message(upstream) == {
        "role": "system",
        "content": f"Site prompt.\n\n{INSTRUCTIONS}",
    }

    # The chat's settings panel shows them, switched on; switching off saves at once.
    page.locator("#settings-details summary").click()
    toggle = page.locator("#instructions-toggle")
    expect(toggle).to_be_checked()
    expect(page.locator("#instructions-preview")).to_contain_text(ABOUT)
    page.locator("label.switch", has=toggle).click()
    expect(page.locator("#settings-note")).to_have_text("Custom instructions off.")
    ask(page, "[[fake tokens=3]] and in winter?", 2)
    assert last_system_message(upstream) == {"role": "system", "content": "Site prompt."}

    page.reload()
    page.locator("#settings-details summary").click()
    expect(page.locator("#instructions-toggle")).not_to_be_checked()
    # A new chat starts with them on again.
    page.goto("/")
    page.fill("#composer-text", "[[fake tokens=3]] a new question")
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    assert last_system_message(upstream)["content"] == f"Site prompt.\n\n{INSTRUCTIONS}"


def test_screenshots(browser: Any, app: Daphne, shots: Path) -> None:
    """The settings section and the chat's panel on each size and scheme; axe on desktop."""
    chat_url = ""
    for scheme in ("light", "dark"):
        for size, viewport in SIZES.items():
            page = open_page(
                browser, app, reuse_session=True, viewport=viewport, color_scheme=scheme
            )
            try:
                page.goto("/settings/")
                section = page.locator("section[aria-labelledby=instructions-heading]")
                if not page.locator("#id_instructions_about").input_value():
                    page.fill("#id_instructions_about", ABOUT)
                    page.fill("#id_instructions_style", STYLE)
                    page.get_by_role("button", name="Save settings").click()
                    page.wait_for_load_state()
                widths = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
                assert widths[0] <= widths[1], f"{size}: wider than the screen"
                if size == "desktop":
                    assert run_axe(page) == []
                section.screenshot(path=str(shots / f"instructions-settings-{size}-{scheme}.png"))
                if not chat_url:
                    page.goto("/")
                    page.fill("#composer-text", "[[fake tokens=3]] hello")
                    page.keyboard.press("Enter")
                    page.wait_for_url("**/c/*/")
                    chat_url = page.url
                page.goto(chat_url)
                page.locator("#settings-details summary").click()
                expect(page.locator("#instructions-preview")).to_be_visible()
                widths = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
                assert widths[0] <= widths[1], f"{size}: wider than the screen"
                if size == "desktop":
                    assert run_axe(page) == []
                page.screenshot(path=str(shots / f"instructions-panel-{size}-{scheme}.png"))
            finally:
                close_page(page, app)

    page = open_page(browser, app, reuse_session=True, color_scheme="dark", locale="zh-CN")
    try:
        page.goto("/settings/")
        expect(page.locator("#instructions-heading")).to_have_text("自定义指令")
        page.locator("section[aria-labelledby=instructions-heading]").screenshot(
            path=str(shots / "zh-hans-instructions-settings-desktop-dark.png")
        )
        page.goto(chat_url)
        page.locator("#settings-details summary").click()
        expect(
            page.locator("label.switch", has=page.locator("#instructions-toggle"))
        ).to_contain_text("使用我的自定义指令")
        page.screenshot(path=str(shots / "zh-hans-instructions-panel-desktop-dark.png"))
    finally:
        close_page(page, app)
