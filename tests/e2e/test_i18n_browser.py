"""Chinese in a real browser: a zh-CN Chromium gets the sign-in page, the chat, its
JavaScript strings (Django's catalog) and the sidebar's dates in Simplified Chinese; a
zh-TW one gets every page it walks through (sign-in, chat, settings, the account menu,
the admin's provider page) in Traditional Chinese, with no Simplified-only character; the
sign-in page's switcher changes the language without inline script; screenshots of the
sign-in page, the chat and the settings in zh-Hans and zh-Hant at both sizes in both
colour schemes (E2E_SCREENSHOTS keeps them). Chinese text needs a CJK font in the system
(Debian: fonts-noto-cjk) to render.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import ADMIN, ADMIN_PASSWORD, SIZES, new_context, watch
from tests.e2e.browsing import sign_in as _sign_in
from tests.servers import Daphne, manage
from tests.test_translations import simplified_characters

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


# What a page shows: its text, and the attributes read aloud or shown on hover.
SHOWN_TEXT = """() => [document.title, document.body.innerText,
  ...[...document.querySelectorAll("[title], [aria-label], [placeholder]")].map(
    (e) => [e.title, e.getAttribute("aria-label"), e.placeholder].filter(Boolean).join(" "))
].join("\\n")"""


def _reads_traditional(page: Any) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "zh-hant")
    # Each language is named in its own script in the switchers (简体中文 stays so).
    text = page.evaluate(SHOWN_TEXT).replace("简体中文", "")
    assert simplified_characters(text) == [], f"{page.url}: {text}"


def test_a_taiwanese_browser_reads_traditional_chinese_everywhere(
    browser: Any, app: Daphne, upstream: Any, shots: Path
) -> None:
    provider = manage(
        app.env, "shell", "-v", "0", "-c",
        "from catalog.models import Provider; "
        f"print(Provider.objects.create(name='Local', base_url='{upstream.base_url}').pk)",
    ).strip()  # fmt: skip
    context, page, errors = _context(browser, app, locale="zh-TW")
    try:
        page.goto("/accounts/login/")
        expect(page.locator("h1")).to_have_text("歡迎回來")
        expect(page.locator("#language-select")).to_have_value("zh-hant")
        _reads_traditional(page)
        _sign_in(page)
        expect(page.locator(".welcome h2")).to_have_text("今天有什麼可以幫你的？")
        expect(page.locator("#composer-text")).to_have_attribute("placeholder", "傳訊息給 Chatweb")
        _reads_traditional(page)
        # A chat: the sidebar's group and a string only JS writes, in Traditional.
        page.fill("#composer-text", "請用表格比較 Python 和 Go")
        page.keyboard.press("Enter")
        page.wait_for_url("**/c/*/")
        expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(1)
        expect(page.locator(".conv-group-label").first).to_have_text("今天")
        page.locator(".msg-assistant [data-action=copy]").click()
        expect(page.locator("#toasts")).to_contain_text("已複製。")
        _reads_traditional(page)
        # The account menu.
        page.click("#account-button")
        menu = page.get_by_role("menu")
        expect(menu.get_by_role("menuitem", name="設定")).to_be_visible()
        _reads_traditional(page)
        page.screenshot(path=str(shots / "i18n-account-menu-zh-hant-desktop-light.png"))
        # Settings: the language setting offers 繁體中文, named in its own script.
        page.goto("/settings/")
        expect(page.locator("#id_language option[value=zh-hant]")).to_have_text("繁體中文")
        _reads_traditional(page)
    finally:
        context.close()
    assert not errors, errors

    context, page, errors = _context(browser, app, locale="zh-TW")
    try:
        _sign_in(page, ADMIN, ADMIN_PASSWORD)
        page.goto(f"/admin/catalog/provider/{provider}/change/")
        expect(page.locator("#content h2, #content h1").first).to_be_visible()
        expect(page.locator("body")).to_contain_text("測試連線")
        _reads_traditional(page)
        page.screenshot(
            path=str(shots / "i18n-admin-provider-zh-hant-desktop-light.png"), full_page=True
        )
        page.goto("/admin/")
        _reads_traditional(page)
        page.screenshot(
            path=str(shots / "i18n-admin-index-zh-hant-desktop-light.png"), full_page=True
        )
    finally:
        context.close()
    assert not errors, errors


LOCALES = {"zh-hans": "zh-CN", "zh-hant": "zh-TW"}
WELCOME = {"zh-hans": "欢迎回来", "zh-hant": "歡迎回來"}


@pytest.mark.parametrize("language", list(LOCALES))
def test_screenshots_in_chinese(browser: Any, app: Daphne, shots: Path, language: str) -> None:
    locale = LOCALES[language]
    context, page, _errors = _context(browser, app, locale=locale)
    _sign_in(page)
    question = {"zh-hans": "用一个表格比较 Python 和 Go", "zh-hant": "用一個表格比較 Python 和 Go"}
    page.fill("#composer-text", question[language])
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(1)
    chat_url = page.url
    context.close()

    for size, viewport in SIZES.items():
        for scheme in ("light", "dark"):
            context, page, errors = _context(
                browser, app, viewport=viewport, color_scheme=scheme, locale=locale
            )
            try:
                page.goto("/accounts/login/")
                expect(page.locator("h1")).to_have_text(WELCOME[language])
                name = f"{language}-{size}-{scheme}.png"
                page.screenshot(path=str(shots / f"i18n-sign-in-{name}"))
                _sign_in(page)
                page.goto(chat_url)
                expect(page.locator(".msg-assistant[data-status=done]")).to_have_count(1)
                page.screenshot(path=str(shots / f"i18n-chat-{name}"))
                page.goto("/settings/")
                page.screenshot(path=str(shots / f"i18n-settings-{name}"), full_page=True)
            finally:
                context.close()
            assert not errors, errors
    assert len(list(shots.glob(f"i18n-[cs]*-{language}-*.png"))) == 12
