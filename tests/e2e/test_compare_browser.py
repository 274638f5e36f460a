"""Comparing models in a real browser (Debian's Chromium against a real daphne, #22 item
5): "Compare with…" on an answer still being written starts another model's answer; both
stream side by side over the one socket, survive a reload, and "Choose this one" keeps a
side, whose branch switcher then lists both; screenshots on both sizes, light and dark,
and in Simplified Chinese."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import DESKTOP, SIZES, close_page, open_page, run_axe
from tests.servers import Daphne
from tests.upstream import expected_text

pytestmark = pytest.mark.e2e

# Two models on the test server: the first is everyone's default.
APP_ENV = {"OPENAI_API_MODEL": "gpt-4o-mini,gpt-4o"}
TOKENS = 250
QUESTION = f"[[fake tokens={TOKENS} delay=0.02]] Which model answers better?"
REPO = Path(__file__).resolve().parents[2]


def column_boxes(page: Any) -> list[dict[str, float]]:
    """The two columns' boxes, measured at one moment (the thread scrolls as text comes)."""
    boxes: list[dict[str, float]] = page.eval_on_selector_all(
        "[data-compare] .compare-col",
        "cols => cols.map(c => { const r = c.getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height}; })",
    )
    return boxes


def raw_texts(page: Any) -> list[str]:
    """Each column's answer as stored (its inert <template data-raw>), left to right."""
    texts: list[str] = page.eval_on_selector_all(
        "[data-compare] .msg-assistant template[data-raw]",
        "nodes => nodes.map(n => n.content.textContent)",
    )
    return texts


def start_comparison(page: Any, question: str) -> None:
    """Ask `question` (gpt-4o-mini), then compare its answer with gpt-4o, from the menu."""
    page.goto("/")
    page.fill("#composer-text", question)
    page.locator("#send-btn").click()
    page.wait_for_url("**/c/*/")
    answer = page.locator(".msg-assistant").first
    expect(answer.locator("[data-model]")).to_have_text("gpt-4o-mini")
    button = answer.locator('[data-action="compare"]')
    expect(button).to_be_enabled()
    button.click()
    menu = page.get_by_role("menu", name="Compare with…")
    expect(menu).to_be_visible()
    # The other models only, the first focused (the menu-button pattern).
    items = menu.get_by_role("menuitem")
    expect(items).to_have_count(1)
    expect(items.first).to_be_focused()
    expect(items.first).to_contain_text("gpt-4o")
    page.keyboard.press("Enter")
    expect(menu).to_be_hidden()


def test_two_models_stream_side_by_side_and_one_is_chosen(
    browser: Any, app: Daphne, shots: Path
) -> None:
    page = open_page(browser, app)
    try:
        start_comparison(page, QUESTION)
        compare = page.locator("[data-compare]")
        columns = compare.locator(".compare-col")
        expect(columns).to_have_count(2)
        # Both stream at once, side by side on a wide screen.
        expect(compare.locator(".msg.is-streaming")).to_have_count(2)
        expect(columns.nth(0).locator(".compare-model")).to_have_text("gpt-4o-mini")
        expect(columns.nth(1).locator(".compare-model")).to_have_text("gpt-4o")
        left, right = column_boxes(page)
        assert left["y"] == right["y"]
        assert left["x"] + left["width"] <= right["x"]
        page.screenshot(path=str(shots / "compare-streaming-desktop-light.png"))

        # A reload in the middle: both resume from their snapshots, no gap, no duplicate.
        page.reload()
        expect(page.locator("[data-compare] .compare-col")).to_have_count(2)
        expect(page.locator('[data-compare] .msg[data-status="done"]')).to_have_count(2)
        assert raw_texts(page) == [expected_text(TOKENS)] * 2
        for body in page.locator("[data-compare] [data-markdown]").all_inner_texts():
            assert body.strip() == expected_text(TOKENS)
        assert run_axe(page) == []

        # Choose the right-hand one: the comparison closes, its branch goes on.
        page.locator("[data-compare-col]").nth(1).get_by_role(
            "button", name=re.compile("Choose this one")
        ).click()
        expect(page.locator("[data-compare]")).to_have_count(0)
        answer = page.locator(".msg-assistant")
        expect(answer).to_have_count(1)
        expect(answer.locator("[data-model]")).to_have_text("gpt-4o")
        expect(answer).to_be_focused()
        # The branch switcher lists both answers: back to the other one.
        expect(answer.locator("[data-branch-label]")).to_have_text("2/2")
        answer.get_by_role("button", name="Previous version").click()
        expect(page.locator(".msg-assistant [data-model]")).to_have_text("gpt-4o-mini")
        expect(page.locator(".msg-assistant [data-branch-label]")).to_have_text("1/2")
    finally:
        close_page(page, app)


def test_a_comparison_in_every_size_scheme_and_language(
    browser: Any, app: Daphne, shots: Path
) -> None:
    page = open_page(browser, app)
    try:
        # No directive: the fake server's markdown demo, so the pictures show real markdown.
        start_comparison(page, "Write a greeting function in Python")
        expect(page.locator('[data-compare] .msg[data-status="done"]')).to_have_count(2)
        path = re.sub(r"^https?://[^/]+", "", page.url)
        readme = os.environ.get("COMPARE_README_SHOT")
        if readme:  # docs/images/compare.png, the README's (set when updating it)
            page.evaluate("document.getElementById('thread').scrollTop = 0")
            page.screenshot(path=str(REPO / readme))
    finally:
        close_page(page, app)

    for scheme in ("light", "dark"):
        for size, viewport in SIZES.items():
            page = open_page(browser, app, viewport=viewport, color_scheme=scheme)
            try:
                page.goto(path)
                columns = page.locator("[data-compare] .compare-col")
                expect(columns).to_have_count(2)
                widths = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
                assert widths[0] <= widths[1], f"{size}: wider than the screen"
                left, right = column_boxes(page)
                if viewport == DESKTOP:
                    assert left["y"] == right["y"], "side by side on a wide screen"
                else:
                    assert left["y"] + left["height"] <= right["y"], "stacked on a phone"
                page.screenshot(path=str(shots / f"compare-{size}-{scheme}.png"), full_page=True)
                # The menu, opened from the keyboard on the second answer.
                button = page.locator('[data-compare-col] [data-action="compare"]').nth(1)
                button.focus()
                page.keyboard.press("Enter")
                menu = page.locator("#compare-menu")
                expect(menu).to_be_visible()
                expect(menu.get_by_role("menuitem").first).to_be_focused()
                page.screenshot(path=str(shots / f"compare-menu-{size}-{scheme}.png"))
                page.keyboard.press("Escape")
                expect(menu).to_be_hidden()
                expect(button).to_be_focused()
            finally:
                close_page(page, app)

    page = open_page(browser, app, locale="zh-CN")
    try:
        page.goto(path)
        expect(page.locator("[data-compare] [data-action='choose']").first).to_have_text(
            "选这个回答"
        )
        expect(page.locator("[data-action='compare']").first).to_have_attribute("title", "对比…")
        page.screenshot(path=str(shots / "zh-hans-compare-desktop-light.png"))
    finally:
        close_page(page, app)
