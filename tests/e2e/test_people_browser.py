"""People in a real browser (Debian's Chromium against a real daphne): settings that follow
the user to another device, the theme painted before any script runs, the composer and
Stop by keyboard alone, and no layout shift while an answer streams. axe-core's check
and the screenshots of every page are test_pages_browser.py's.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import PHONE, open_page
from tests.servers import Daphne
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e

UPSTREAM_SHOWCASE = True
APP_ENV = {"OPENAI_API_MODEL": "fake-model,fake-model-2"}
# Light page background and dark page background (static/css/app.css --bg).
LIGHT_BG, DARK_BG = "rgb(255, 255, 255)", "rgb(33, 33, 33)"


def save_settings(page: Any, **fields: str) -> None:
    page.goto("/settings/")
    for name, value in fields.items():
        locator = page.locator(f"[name={name}]")
        if locator.first.get_attribute("type") == "radio":
            page.check(f"[name={name}][value='{value}']")
        elif locator.evaluate("e => e.tagName") == "SELECT":
            locator.select_option(value)
        else:
            locator.fill(value)
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash")).to_have_text("Your settings are saved.")


def background(page: Any) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def test_settings_follow_the_user_to_another_device(browser: Any, app: Daphne) -> None:
    laptop = open_page(browser, app)
    phone = open_page(browser, app, viewport=PHONE)
    try:
        save_settings(
            laptop,
            display_name="Dora Explorer",
            theme="dark",
            default_model="fake-model-2",
            system_prompt="Be brief.",
            temperature="0.4",
            top_p="0.8",
            send_key="ctrl-enter",
        )
        phone.goto("/")
        expect(phone.locator("html")).to_have_attribute("data-theme", "dark")
        assert background(phone) == DARK_BG
        expect(phone.locator("#model-select")).to_have_value("fake-model-2")
        expect(phone.locator("#composer-hint")).to_contain_text("Ctrl+Enter to send")
        phone.goto("/settings/")
        expect(phone.locator("#id_display_name")).to_have_value("Dora Explorer")
        expect(phone.locator("#id_system_prompt")).to_have_value("Be brief.")
        expect(phone.locator("#id_temperature")).to_have_value("0.4")
    finally:
        save_settings(
            laptop,
            display_name="",
            theme="system",
            default_model="",
            system_prompt="",
            temperature="",
            top_p="",
            send_key="enter",
        )
        laptop.context.close()
        phone.context.close()
    assert not laptop.errors + phone.errors, laptop.errors + phone.errors


@pytest.mark.parametrize(
    ("theme", "device", "expected"),
    [
        ("dark", "light", DARK_BG),
        ("light", "dark", LIGHT_BG),
        ("system", "dark", DARK_BG),
        ("system", "light", LIGHT_BG),
    ],
)
def test_the_theme_applies_before_any_script_runs(
    browser: Any, app: Daphne, theme: str, device: str, expected: str
) -> None:
    setter = open_page(browser, app)
    save_settings(setter, theme=theme)
    setter.context.close()
    # Scripts off: what shows is what the server's HTML and the stylesheet paint first.
    page = open_page(browser, app, color_scheme=device, java_script_enabled=False)
    try:
        for path in ("/", "/settings/"):
            page.goto(path, wait_until="commit")
            page.wait_for_load_state("domcontentloaded")
            assert background(page) == expected, (path, theme, device)
    finally:
        page.context.close()
        reset = open_page(browser, app)
        save_settings(reset, theme="system")
        reset.context.close()


def test_keyboard_alone_sends_and_stops(browser: Any, app: Daphne, upstream: FakeUpstream) -> None:
    page = open_page(browser, app)
    try:
        page.goto("/")
        # On a desktop the message box has the focus from the start.
        expect(page.locator("#composer-text")).to_be_focused()
        # The skip link (the page's first stop) leads back to it.
        page.locator(".skip-link").first.focus()
        expect(page.locator(".skip-link").first).to_be_visible()
        page.keyboard.press("Enter")
        expect(page.locator("#composer-text")).to_be_focused()
        page.keyboard.type("[[fake tokens=400 delay=0.03]] by keyboard")
        page.keyboard.press("Enter")
        page.wait_for_url("**/c/*/")
        stop = page.locator("#stop-btn")
        expect(stop).to_be_visible()
        page.locator("#composer-text").focus()
        for _ in range(6):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "stop-btn":
                break
        assert page.evaluate("document.activeElement.id") == "stop-btn"
        # The focused control shows it (the :focus-visible outline).
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        page.keyboard.press("Enter")
        expect(page.locator('.msg-assistant[data-status="stopped"]')).to_have_count(1)
        # Switching conversations: from "New chat", Tab reaches the list; Enter opens one.
        current = page.url
        page.goto("/")
        page.locator(".new-chat").focus()
        for _ in range(4):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('conv-link')"):
                break
        assert page.evaluate("document.activeElement.classList.contains('conv-link')")
        page.keyboard.press("Enter")
        page.wait_for_url("**/c/*/")
        assert page.url.startswith(f"{app.url}/c/")
        assert current.startswith(f"{app.url}/c/")
    finally:
        page.context.close()
    assert not page.errors, page.errors


def test_streaming_keeps_the_layout_still_and_autoscroll_yields_to_the_reader(
    browser: Any, app: Daphne, upstream: FakeUpstream
) -> None:
    page = open_page(browser, app)
    try:
        # Layout shifts (not caused by input) are recorded from the first paint on.
        page.add_init_script(
            "window.__shifts = [];"
            "new PerformanceObserver(l => { for (const e of l.getEntries())"
            " if (!e.hadRecentInput) window.__shifts.push(e.value); })"
            ".observe({type: 'layout-shift', buffered: true});"
        )
        page.goto("/")
        page.fill("#composer-text", "[[fake tokens=600 delay=0.02]] a long one")
        page.keyboard.press("Enter")
        page.wait_for_url("**/c/*/")
        expect(page.locator("#stop-btn")).to_be_visible()
        page.wait_for_function(
            "() => document.querySelector('#thread').scrollHeight >"
            " document.querySelector('#thread').clientHeight + 200"
        )
        # Following the answer: the thread stays at the bottom as it grows.
        page.wait_for_timeout(500)
        at_bottom = (
            "(() => { const t = document.querySelector('#thread');"
            " return t.scrollHeight - t.scrollTop - t.clientHeight < 80; })()"
        )
        assert page.evaluate(at_bottom)
        # The reader scrolls up: the text keeps coming, the view stays where they are.
        page.locator("#thread").hover()
        page.mouse.wheel(0, -5000)
        page.wait_for_timeout(300)
        top = page.evaluate("document.querySelector('#thread').scrollTop")
        page.wait_for_timeout(800)
        assert page.evaluate("document.querySelector('#thread').scrollTop") == top
        assert not page.evaluate(at_bottom)
        shifts = page.evaluate("window.__shifts.reduce((a, b) => a + b, 0)")
        # "Good" cumulative layout shift is under 0.1.
        assert shifts < 0.1, shifts
        page.locator("#stop-btn").click()
        expect(page.locator('.msg-assistant[data-status="stopped"]')).to_have_count(1)
    finally:
        page.context.close()
    assert not page.errors, page.errors
