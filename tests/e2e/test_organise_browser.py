"""Pin, archive and keyboard shortcuts in a real browser (#22, items 2 and 6), walked in
one signed-in session with two tabs: pin in one tab and the other shows it after a reload;
archive (out of the sidebar, found by search marked "Archived"), restore from the archive
page; the `?` dialog (a modal dialog: focus stays in it, Esc closes it), Ctrl+K to search
and Ctrl+Shift+C to copy the last answer. Screenshots: desktop and phone, light and dark,
English and Simplified Chinese."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, close_page, open_page, watch
from tests.servers import Daphne

pytestmark = pytest.mark.e2e

# Titles stay the first message's text (no model-written title to wait for).
APP_ENV = {"AUTO_TITLE": "false"}
DONE = ".msg-assistant[data-status=done]"


def new_chat(page: Any, text: str) -> None:
    page.goto("/")
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator(DONE)).to_have_count(1)


def sidebar_titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#conv-list .conv .conv-title").all_text_contents()]


def row(page: Any, title: str) -> Any:
    return page.locator("#conv-list .conv", has_text=title)


def test_pin_archive_restore_and_shortcuts(browser: Any, app: Daphne, shots: Path) -> None:
    page = open_page(browser, app, permissions=["clipboard-read", "clipboard-write"])
    for text in ("Alpha apples", "Beta bananas", "Gamma grapes"):
        new_chat(page, text)
    assert sidebar_titles(page) == ["Gamma grapes", "Beta bananas", "Alpha apples"]
    other = page.context.new_page()  # a second tab of the same session
    watch(other)
    other.goto("/")

    # Pin the oldest: it heads the list under "Pinned", in this tab at once...
    row(page, "Alpha apples").hover()
    row(page, "Alpha apples").locator("[data-pin]").click()
    page.wait_for_load_state()
    expect(page.locator("#conv-list .conv").first).to_have_attribute("data-pinned", "")
    assert sidebar_titles(page)[0] == "Alpha apples"
    expect(page.locator("#conv-list .conv-group-label").first).to_have_text("Pinned")
    # ...and in the other after its next reload.
    assert sidebar_titles(other)[0] == "Gamma grapes"
    other.reload()
    assert sidebar_titles(other) == ["Alpha apples", "Gamma grapes", "Beta bananas"]

    # Archive one: it leaves the sidebar and search still finds it, marked "Archived".
    row(page, "Beta bananas").hover()
    row(page, "Beta bananas").locator("[data-archive]").click()
    page.wait_for_load_state()
    expect(row(page, "Beta bananas")).to_have_count(0)
    # Ctrl+K: to the search field.
    page.locator("#composer-text").focus()
    page.keyboard.press("Control+k")
    expect(page.locator("#sidebar-search-q")).to_be_focused()
    page.keyboard.type("Beta")
    hit = page.locator("#sidebar-search-results .search-hit", has_text="Beta bananas").first
    expect(hit.locator(".search-archived")).to_have_text("Archived")
    page.keyboard.press("Escape")

    # The archive page, from the account menu: restore it.
    page.click("#account-button")
    page.get_by_role("menuitem", name="Archived chats").click()
    page.wait_for_url("**/archive/")
    expect(page.locator(".archive-row")).to_have_count(1)
    page.screenshot(path=str(shots / "organise-archive-desktop-light.png"))
    page.get_by_role("button", name="Restore “Beta bananas”").click()
    page.wait_for_url("**/archive/")
    expect(page.locator(".archive-row")).to_have_count(0)
    page.goto("/")
    assert sidebar_titles(page) == ["Alpha apples", "Gamma grapes", "Beta bananas"]

    # The `?` dialog: a modal dialog; Tab keeps focus in it, Esc closes it.
    row(page, "Gamma grapes").locator(".conv-title").click()
    page.wait_for_url("**/c/*/")
    expect(page.locator(DONE)).to_have_count(1)
    page.locator("#chat-title").click()  # focus out of the composer: `?` is typed there
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    for _ in range(4):
        page.keyboard.press("Tab")
        assert page.evaluate("() => !!document.activeElement.closest('#shortcuts-dialog')")
    page.screenshot(path=str(shots / "organise-shortcuts-desktop-light.png"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # In the composer, `?` is only a character.
    page.locator("#composer-text").focus()
    page.keyboard.press("?")
    expect(dialog).to_be_hidden()
    expect(page.locator("#composer-text")).to_have_value("?")
    page.fill("#composer-text", "")

    # Ctrl+Shift+C copies the last answer.
    answer = page.locator(".msg-assistant .markdown").last.inner_text().strip()
    page.keyboard.press("Control+Shift+C")
    page.wait_for_function(
        "(text) => navigator.clipboard.readText().then(t => t.trim() === text)", arg=answer
    )
    other.close()
    close_page(page, app)

    # Looked at: the pinned group, desktop and phone, light and dark, en and zh-Hans.
    for locale in ("en-US", "zh-CN"):
        for size, viewport in SIZES.items():
            for scheme in ("light", "dark"):
                p = open_page(
                    browser,
                    app,
                    reuse_session=True,
                    viewport=viewport,
                    color_scheme=scheme,
                    locale=locale,
                    reduced_motion="reduce",  # the drawer without its slide
                )
                context, errors = p.context, p.errors
                if size == "phone":
                    p.click("[data-drawer-toggle]")
                else:
                    row(p, "Gamma grapes").hover()  # its actions over the title's end
                p.screenshot(path=str(shots / f"organise-{size}-{scheme}-{locale}.png"))
                if size == "desktop" and scheme == "dark":
                    p.keyboard.press("Control+/")
                    expect(p.locator("#shortcuts-dialog")).to_be_visible()
                    p.screenshot(path=str(shots / f"organise-shortcuts-{scheme}-{locale}.png"))
                context.close()
                assert not errors, errors
