"""#22's pages in both Chinese scripts (items 2, 3, 4 and 6): the sidebar's pinned group,
the archive page, a temporary chat's banner and its export-only menu, the custom
instructions in settings and in a conversation's settings, and the shortcuts dialog, in
Simplified (zh-CN) and Traditional (zh-TW) Chinese, desktop and phone, light and dark.
Each is screenshotted (to be looked at), none is wider than the screen, and none shows an
English word of ours (the user's titles, dates and key caps aside)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, close_page, open_page
from tests.servers import Daphne

pytestmark = pytest.mark.e2e

APP_ENV = {"AUTO_TITLE": "false"}
DONE = ".msg-assistant[data-status=done]"
LANGUAGES = {
    "zh-CN": {"pinned": "已置顶", "archive": "已归档的对话", "temporary": "临时对话",
              "instructions": "自定义指令", "shortcuts": "键盘快捷键"},
    "zh-TW": {"pinned": "已釘選", "archive": "已封存的對話", "temporary": "暫時對話",
              "instructions": "自訂指示", "shortcuts": "鍵盤快速鍵"},
}  # fmt: skip
# Words of ours that stay as they are in Chinese: formats, key caps, the product's name.
KEPT = {"Markdown", "JSON", "Chatweb", "Ctrl", "Shift", "Esc"}

# The visible text of an element without what the user wrote (titles), dates and key caps.
OUR_TEXT_JS = """(element) => {
  const copy = element.cloneNode(true);
  for (const own of copy.querySelectorAll(
    '.conv-title, .share-title, .share-date, .user-name, kbd, textarea, '
    + '.instructions-preview p:not(:last-child)'
  )) own.remove();
  return copy.innerText + ' ' + [...copy.querySelectorAll('[aria-label]')]
    .map((e) => e.getAttribute('aria-label')).join(' ');
}"""


def english_words(page: Any, selector: str) -> list[str]:
    text = page.locator(selector).first.evaluate(OUR_TEXT_JS)
    return [w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in KEPT]


def fits(page: Any, where: str) -> None:
    widths = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert widths[0] <= widths[1], f"{where}: wider than the screen"


def new_chat(page: Any, text: str, *, temporary: bool = False) -> str:
    page.goto("/")
    if temporary:
        page.locator("label:has(#temporary-toggle)").click()
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator(DONE)).to_have_count(1)
    return str(page.url)


def row(page: Any, title: str) -> Any:
    return page.locator("#conv-list .conv", has_text=title)


def test_organise_pages_in_both_chinese_scripts(browser: Any, app: Daphne, shots: Path) -> None:
    page = open_page(browser, app, reuse_session=True)
    try:
        page.goto("/settings/")
        page.fill("#id_instructions_about", "我在阳台上种番茄。")
        page.fill("#id_instructions_style", "最多两句话。")
        page.get_by_role("button", name="Save settings").click()
        page.wait_for_load_state()
        apples = new_chat(page, "苹果")
        new_chat(page, "香蕉")
        new_chat(page, "葡萄")
        for title, button in (("苹果", "[data-pin]"), ("香蕉", "[data-archive]")):
            row(page, title).hover()
            row(page, title).locator(button).click()
            page.wait_for_load_state()
        temporary = new_chat(page, "临时问题", temporary=True)
    finally:
        close_page(page, app)

    for locale, words in LANGUAGES.items():
        for size, viewport in SIZES.items():
            for scheme in ("light", "dark"):
                name = f"{size}-{scheme}-{locale}"
                page = open_page(
                    browser, app, reuse_session=True, viewport=viewport,
                    color_scheme=scheme, locale=locale, reduced_motion="reduce",
                )  # fmt: skip
                try:
                    # The sidebar: the pinned group first.
                    page.goto("/")
                    if size == "phone":
                        page.click("[data-drawer-toggle]")
                    else:
                        row(page, "葡萄").hover()
                    label = page.locator("#conv-list .conv-group-label").first
                    expect(label).to_have_text(words["pinned"])
                    assert english_words(page, "#sidebar") == [], name
                    page.screenshot(path=str(shots / f"organise-zh-sidebar-{name}.png"))

                    page.goto("/archive/")
                    expect(page.locator("h1")).to_have_text(words["archive"])
                    expect(page.locator(".archive-row")).to_have_count(1)
                    assert english_words(page, "main") == [], name
                    fits(page, f"archive {name}")
                    page.screenshot(path=str(shots / f"organise-zh-archive-{name}.png"))

                    # A temporary chat: the banner, and a menu that only downloads it.
                    page.goto(temporary)
                    banner = page.locator("#temporary-banner")
                    expect(banner).to_contain_text(words["temporary"])
                    assert english_words(page, "#temporary-banner") == [], name
                    fits(page, f"temporary {name}")
                    page.screenshot(path=str(shots / f"organise-zh-temporary-{name}.png"))
                    page.locator("#conv-menu summary").click()
                    expect(page.locator("#conv-menu .menu-item")).to_have_count(2)
                    assert english_words(page, "#conv-menu") == [], name
                    page.screenshot(path=str(shots / f"organise-zh-temporary-menu-{name}.png"))

                    page.goto("/settings/")
                    section = page.locator("section[aria-labelledby=instructions-heading]")
                    expect(section.locator("h2")).to_have_text(words["instructions"])
                    assert (
                        english_words(page, "section[aria-labelledby=instructions-heading]") == []
                    )
                    # A question's label ends with its question mark, no colon after it.
                    assert "\uff1f\uff1a" not in section.inner_text(), name  # full-width ? then :
                    fits(page, f"settings {name}")
                    section.screenshot(path=str(shots / f"organise-zh-instructions-{name}.png"))

                    page.goto(apples)
                    page.locator("#settings-details summary").click()
                    expect(page.locator("#instructions-preview")).to_contain_text("番茄")
                    assert english_words(page, "#settings-details") == [], name
                    fits(page, f"conversation settings {name}")
                    page.screenshot(path=str(shots / f"organise-zh-panel-{name}.png"))

                    page.locator("#chat-title").click()  # out of the composer
                    page.keyboard.press("Control+/")
                    dialog = page.locator("#shortcuts-dialog")
                    expect(dialog).to_be_visible()
                    expect(dialog.locator("h2")).to_have_text(words["shortcuts"])
                    assert english_words(page, "#shortcuts-dialog") == [], name
                    page.screenshot(path=str(shots / f"organise-zh-shortcuts-{name}.png"))
                finally:
                    close_page(page, app)
