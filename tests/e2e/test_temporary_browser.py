"""Temporary chats in a real browser (Debian's Chromium against a real daphne, #22 item 3):
the new-chat page's toggle starts one, its answer streams, the page says it is temporary
and when it goes, and the sidebar never lists it; screenshots on both sizes, light and
dark, and in Simplified Chinese."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, close_page, open_page, run_axe
from tests.servers import Daphne

pytestmark = pytest.mark.e2e


def test_a_temporary_chat_is_said_so_and_kept_out_of_the_sidebar(
    browser: Any, app: Daphne, shots: Path
) -> None:
    page = open_page(browser, app)
    try:
        page.goto("/")
        toggle = page.get_by_label("Temporary chat")
        expect(toggle).not_to_be_checked()
        page.locator("label:has(#temporary-toggle)").click()  # as a person clicks the switch
        expect(toggle).to_be_checked()
        page.fill("#composer-text", "A passing question")
        page.locator("#send-btn").click()
        page.wait_for_url("**/c/*/")
        expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
        path = re.sub(r"^https?://[^/]+", "", page.url)

        banner = page.locator("#temporary-banner")
        expect(banner).to_contain_text("Temporary chat")
        expect(banner).to_contain_text("Deleted with its messages at")
        expect(page.locator("#share-form")).to_have_count(0)
        expect(page.locator(f'#sidebar a[href="{path}"]')).to_have_count(0)
        assert run_axe(page) == []
        # A normal chat started next is listed, the temporary one still is not.
        page.goto("/")
        expect(page.get_by_label("Temporary chat")).not_to_be_checked()
        page.fill("#composer-text", "A question to keep")
        page.locator("#send-btn").click()
        page.wait_for_url("**/c/*/")
        expect(page.locator("#temporary-banner")).to_have_count(0)
        kept = re.sub(r"^https?://[^/]+", "", page.url)
        expect(page.locator(f'#sidebar a[href="{kept}"]').first).to_be_visible()
        expect(page.locator(f'#sidebar a[href="{path}"]')).to_have_count(0)
    finally:
        close_page(page, app)

    for scheme in ("light", "dark"):
        for size, viewport in SIZES.items():
            page = open_page(
                browser, app, reuse_session=True, viewport=viewport, color_scheme=scheme
            )
            try:
                page.goto(path)
                expect(page.locator("#temporary-banner")).to_be_visible()
                widths = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
                assert widths[0] <= widths[1], f"{size}: wider than the screen"
                page.screenshot(path=str(shots / f"temporary-{size}-{scheme}.png"))
                page.goto("/")
                page.locator(".composer-inner").screenshot(
                    path=str(shots / f"temporary-toggle-{size}-{scheme}.png")
                )
            finally:
                close_page(page, app)

    page = open_page(browser, app, reuse_session=True, locale="zh-CN")
    try:
        page.goto(path)
        expect(page.locator("#temporary-banner")).to_contain_text("临时对话")
        page.screenshot(path=str(shots / "zh-hans-temporary-desktop-light.png"))
        page.goto("/")
        expect(page.get_by_label("临时对话")).to_be_visible()
    finally:
        close_page(page, app)
