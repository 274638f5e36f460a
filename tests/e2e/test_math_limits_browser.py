"""Math that cannot crash a tab (issue 17, finding 8): an answer with 200 nested
superscripts in `$$…$$` crashed Chromium on the conversation, while streaming, and on the
signed-out shared page. Over the limits (static/js/math-limits.js, and
conversations/markdown.py on the server) a formula is shown as its source.

The fake upstream's `echo=1` directive makes the "model" write exactly the text below,
a word at a time, slowly enough that the formula is complete while the answer streams.
A crashed tab fails page.evaluate() with "Target crashed".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from conversations.markdown import math_depth, render
from tests.e2e.browsing import close_page, new_context, open_page, share_token, watch
from tests.servers import Daphne

pytestmark = pytest.mark.e2e

NESTED = "x^{" * 200 + "x" + "}" * 200
# Shallow in its source (20 levels), 200 superscripts once its macro is expanded: only
# the check of KaTeX's parse tree sees it.
MACRO = r"\def\a#1{x^{x^{x^{x^{x^{x^{x^{x^{x^{x^{#1}}}}}}}}}}}" + r"\a{" * 20 + "x" + "}" * 20
TAIL = " ".join(f"word{n}" for n in range(40))
ANSWER = (
    f"Energy $E = mc^2$ first.\n\n$${NESTED}$$\n\nThen a macro: $${MACRO}$$\n\n"
    f"And the answer goes on: {TAIL}"
)


@pytest.fixture
def page(browser: Any, app: Daphne) -> Iterator[Any]:
    page = open_page(browser, app, reuse_session=True)
    crashes: list[str] = []
    page.on("crash", lambda _page: crashes.append("crashed"))
    page.crashes = crashes
    yield page
    assert crashes == []
    close_page(page, app)


def alive(page: Any) -> None:
    """The tab still runs scripts (a crashed one raises "Target crashed")."""
    assert page.evaluate("() => 6 * 7") == 42


def shows_as_source(page: Any, scope: str) -> None:
    sources = page.locator(f"{scope} .markdown .math-source")
    expect(sources).to_have_count(2)
    expect(sources.nth(0)).to_contain_text("x^{x^{x^{")
    expect(sources.nth(1)).to_contain_text(r"\def\a#1")
    expect(page.locator(f"{scope} .markdown .math-source .katex")).to_have_count(0)
    # The formula within the limits is typeset as usual.
    expect(page.locator(f"{scope} .markdown .arithmatex .katex")).to_have_count(1)


def test_deep_math_is_shown_as_source_live_done_and_after_a_reload(page: Any, shots: Path) -> None:
    page.goto("/")
    page.fill("#composer-text", f"[[fake echo=1 delay=0.03]] {ANSWER}")
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")

    # While it streams: the live renderer's formulas, complete, shown as source.
    streaming = ".msg-assistant.is-streaming"
    expect(page.locator(f"{streaming} .markdown .math-source")).to_have_count(2)
    alive(page)
    assert page.locator(streaming).count() == 1, "the answer ended before the check"

    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    shows_as_source(page, ".msg-assistant")
    alive(page)

    page.reload()
    shows_as_source(page, ".msg-assistant")
    alive(page)
    page.screenshot(path=shots / "math-too-deep.png", full_page=True)


def test_deep_math_on_a_shared_page_is_shown_as_source(
    page: Any, browser: Any, app: Daphne
) -> None:
    page.goto("/")
    page.fill("#composer-text", f"[[fake echo=1 delay=0.001]] {ANSWER}")
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    token = share_token(page)

    stranger = new_context(browser, app)
    try:
        public = stranger.new_page()
        errors = watch(public)
        crashes: list[str] = []
        public.on("crash", lambda _page: crashes.append("crashed"))
        public.goto(f"/s/{token}/")
        shows_as_source(public, ".msg-assistant")
        alive(public)
        assert crashes == []
        assert errors == []
    finally:
        stranger.close()


# The browser's count (texDepth) and the server's (math_depth) must agree, or a formula
# would be typeset live and shown as source once stored (or the other way round).
DEPTHS = [
    "x^2",
    "x^{y_{z}}",
    r"\frac{a}{\frac{b}{c}}",
    r"\left( \left[ x \right) \right.",
    r"\left\{ x \right\}",
    r"\sqrt[\sqrt[3]{x}]{y}",
    r"[0, 1) \cup [2, 3]",
    r"\begin{matrix} a & b \\ c & d \end{matrix}",
    r"\{ \} \\ \[",
    "x^{" * 50 + "x" + "}" * 50,
    "x^{" * 51 + "x" + "}" * 51,
    r"\sqrt[" * 60 + "x" + "]{y}" * 60,
    r"\left(" * 60 + "x" + r"\right)" * 60,
    "}}}{{{",
    "\\",
]


def test_the_browser_and_the_server_count_depth_alike(page: Any) -> None:
    page.goto("/")
    browser_depths = page.evaluate(
        """async (texts) => {
            const { texDepth } = await import("chatweb/math-limits.js");
            return texts.map(texDepth);
        }""",
        DEPTHS,
    )
    assert browser_depths == [math_depth(tex) for tex in DEPTHS]
    assert browser_depths[9:11] == [50, 51]

    # The live renderer marks what the server marks.
    text = "$$" + DEPTHS[10] + "$$\n\n$$" + DEPTHS[9] + "$$"
    marked = page.evaluate(
        """async (text) => {
            const { renderMarkdown } = await import("chatweb/render.js");
            const body = document.createElement("div");
            body.innerHTML = renderMarkdown(text);
            return [...body.querySelectorAll(".math-source, .arithmatex")].map((e) => e.className);
        }""",
        text,
    )
    assert marked == ["math-source", "arithmatex"]
    assert render(text).count('class="math-source"') == 1
