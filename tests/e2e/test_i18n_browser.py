"""Simplified Chinese in a real browser: a zh-CN Chromium gets the sign-in page, the chat,
its JavaScript strings (Django's catalog) and the sidebar's dates in Chinese; the sign-in
page's switcher changes the language without inline script; screenshots of the chat and
the sign-in page in zh-Hans at both sizes in both colour schemes (E2E_SCREENSHOTS keeps
them). Chinese text needs a CJK font in the system (Debian: fonts-noto-cjk) to render.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, new_context, watch
from tests.e2e.browsing import sign_in as _sign_in
from tests.servers import Daphne

pytestmark = pytest.mark.e2e


def _context(browser: Any, app: Daphne, **options: Any) -> tuple[Any, Any, list[str]]:
    context = new_context(browser, app, **options)
    page = context.new_page()
    return context, page, watch(page)


def test_a_chinese_browser_gets_chinese_pages_and_scripts(browser: Any, app: Daphne) -> None:
    context, page, errors = _context(browser, app, locale="zh-CN")
    try:
        page.goto("/accounts/login/")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page.locator("h1")).to_have_text("欢迎回来")
        expect(page.locator("#language-select")).to_have_value("zh-hans")
        _sign_in(page)
        expect(page.locator(".welcome h2")).to_have_text("今天有什么可以帮你？")
        expect(page.locator("#composer-text")).to_have_attribute("placeholder", "给 Chatweb 发消息")
        # A chat: the sidebar's date group comes from JS (gettext), in Chinese.
        page.fill("#composer-text", "你好")
        page.keyboard.press("Enter")
        page.wait_for_url("**/c/*/")
        expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(1)
        expect(page.locator(".conv-group-label").first).to_have_text("今天")
        # A string only JS writes: the copy button's feedback.
        page.locator(".msg-assistant [data-action=copy]").click()
        expect(page.locator("#toasts")).to_contain_text("已复制。")
    finally:
        context.close()
    assert not errors, errors


def test_the_switcher_changes_the_language_without_inline_script(browser: Any, app: Daphne) -> None:
    context, page, errors = _context(browser, app, locale="en-US")
    try:
        page.goto("/accounts/login/")
        expect(page.locator("h1")).to_have_text("Welcome back")
        # With JS the button is hidden and choosing submits the (CSRF-protected) form.
        expect(page.locator("[data-language-submit]")).to_be_hidden()
        page.select_option("#language-select", "zh-hans")
        expect(page.locator("h1")).to_have_text("欢迎回来")
        page.select_option("#language-select", "en")
        expect(page.locator("h1")).to_have_text("Welcome back")
        page.select_option("#language-select", "zh-hans")
        expect(page.locator("h1")).to_have_text("欢迎回来")
        # The cookie holds it: the chat after signing in is Chinese too.
        _sign_in(page)
        expect(page.locator(".welcome h2")).to_have_text("今天有什么可以帮你？")
    finally:
        context.close()
    assert not errors, errors


def test_the_users_language_setting_applies_on_every_device(browser: Any, app: Daphne) -> None:
    """Chosen on the settings page (the accounts app) in an English browser; a second,
    English, device signed in as the same user gets Chinese too."""
    pytest.importorskip("accounts.models")
    context, page, errors = _context(browser, app, locale="en-US")
    other, other_page, other_errors = _context(browser, app, locale="en-US")
    try:
        _sign_in(page)
        page.goto("/settings/")
        page.select_option("#id_language", "zh-hans")
        page.click("form.settings-form[action$='/settings/'] button[type=submit]")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        page.goto("/")
        expect(page.locator(".welcome h2")).to_have_text("今天有什么可以帮你？")
        _sign_in(other_page)
        expect(other_page.locator(".welcome h2")).to_have_text("今天有什么可以帮你？")
        # Back to "same as the browser": English again.
        page.goto("/settings/")
        page.select_option("#id_language", "")
        page.click("form.settings-form[action$='/settings/'] button[type=submit]")
        page.goto("/")
        expect(page.locator(".welcome h2")).to_have_text("How can I help you today?")
    finally:
        context.close()
        other.close()
    assert not errors, errors
    assert not other_errors, other_errors


def test_screenshots_in_chinese(browser: Any, app: Daphne, shots: Path) -> None:
    context, page, _errors = _context(browser, app, locale="zh-CN")
    _sign_in(page)
    page.fill("#composer-text", "用一个表格比较 Python 和 Go")
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(1)
    chat_url = page.url
    context.close()

    for size, viewport in SIZES.items():
        for scheme in ("light", "dark"):
            context, page, errors = _context(
                browser, app, viewport=viewport, color_scheme=scheme, locale="zh-CN"
            )
            try:
                page.goto("/accounts/login/")
                expect(page.locator("h1")).to_have_text("欢迎回来")
                page.screenshot(path=str(shots / f"i18n-sign-in-{size}-{scheme}.png"))
                _sign_in(page)
                page.goto(chat_url)
                expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(1)
                page.screenshot(path=str(shots / f"i18n-chat-{size}-{scheme}.png"))
            finally:
                context.close()
            assert not errors, errors
    assert len(list(shots.glob("i18n-*.png"))) == 8
