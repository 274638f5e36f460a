"""Pins and archives show in the user's other open tabs at once (#22, items 2 and 7), in a
real browser: two tabs of one session, each on a conversation (each with its socket). Pin
in one and the other shows it pinned without a reload; archive in one and it leaves the
other's sidebar; unpin in the other and restore from the archive page; then both tabs act
on one conversation at once (a pin in A, an archive in B) and both sidebars end as a
fresh page shows the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import close_page, open_page, watch
from tests.servers import Daphne

pytestmark = pytest.mark.e2e

APP_ENV = {"AUTO_TITLE": "false"}
DONE = ".msg-assistant[data-status=done]"
SOCKET_WAIT_MS = 10_000

# The sidebar as [title, pinned] rows, in order.
ROWS_JS = """() => [...document.querySelectorAll('#conv-list .conv')].map((item) => [
  item.querySelector('.conv-title').textContent.trim(), item.hasAttribute('data-pinned'),
])"""


def new_chat(page: Any, text: str) -> None:
    page.goto("/")
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator(DONE)).to_have_count(1)


def row(page: Any, title: str) -> Any:
    return page.locator("#conv-list .conv", has_text=title)


def rows(page: Any) -> list[list[Any]]:
    return list(page.evaluate(ROWS_JS))


def expect_rows(page: Any, wanted: list[list[Any]]) -> None:
    """Waits until the sidebar shows exactly these rows (the frames come when they come)."""
    page.wait_for_function(
        f"(wanted) => JSON.stringify(({ROWS_JS})()) === JSON.stringify(wanted)", arg=wanted
    )


def open_with_socket(page: Any, path: str) -> None:
    """Opens the conversation page and returns once its socket said the title: the socket
    is then in the user's group, so nothing published later is missed."""
    heard: list[str] = []

    def on_socket(socket: Any) -> None:
        socket.on("framereceived", lambda payload: heard.append(str(payload)))

    page.on("websocket", on_socket)
    page.goto(path)
    waited = 0
    while not any('"title"' in frame for frame in heard):
        assert waited < SOCKET_WAIT_MS, "the socket never said the title"
        page.wait_for_timeout(50)  # lets Playwright deliver the socket's events
        waited += 50
    page.remove_listener("websocket", on_socket)


def test_pins_and_archives_reach_the_other_tab_without_a_reload(
    browser: Any, app: Daphne, shots: Path
) -> None:
    a = open_page(browser, app)
    for text in ("Alpha apples", "Beta bananas", "Gamma grapes", "Delta dates"):
        new_chat(a, text)
    delta_path = a.url.removeprefix(app.url)
    gamma_path = row(a, "Gamma grapes").locator(".conv-link").get_attribute("href")
    b = a.context.new_page()  # a second tab of the same session
    watch(b)
    open_with_socket(b, gamma_path)
    b.evaluate("() => { window.__sameDocument = true; }")  # gone if B reloads
    assert rows(b) == [
        ["Delta dates", False], ["Gamma grapes", False],
        ["Beta bananas", False], ["Alpha apples", False],
    ]  # fmt: skip

    # Pin in A: B shows it first, under "Pinned", at once.
    row(a, "Alpha apples").hover()
    row(a, "Alpha apples").locator("[data-pin]").click()
    a.wait_for_load_state()
    expect_rows(b, [
        ["Alpha apples", True], ["Delta dates", False],
        ["Gamma grapes", False], ["Beta bananas", False],
    ])  # fmt: skip
    expect(b.locator("#conv-list .conv-group-label").first).to_have_text("Pinned")
    # Still its own page (its Gamma row marked as the page's), no reload.
    expect(row(b, "Gamma grapes")).to_have_class("conv active")
    assert b.evaluate("() => window.__sameDocument") is True
    b.screenshot(path=str(shots / "organise-tabs-pinned-elsewhere-desktop-light.png"))

    # Archive in A: it leaves B's sidebar.
    open_with_socket(a, delta_path)
    row(a, "Beta bananas").hover()
    row(a, "Beta bananas").locator("[data-archive]").click()
    a.wait_for_load_state()
    expect_rows(b, [["Alpha apples", True], ["Delta dates", False], ["Gamma grapes", False]])

    # Unpin in B: A (on Delta's page, its socket open again) moves it back to its date.
    open_with_socket(a, delta_path)
    row(b, "Alpha apples").hover()
    row(b, "Alpha apples").locator("[data-pin]").click()
    b.wait_for_load_state()
    expect_rows(a, [["Delta dates", False], ["Gamma grapes", False], ["Alpha apples", False]])

    # Restore from A's archive page (no socket there): B, back on Gamma, shows it in place.
    open_with_socket(b, gamma_path)
    a.goto("/archive/")
    a.get_by_role("button", name="Restore “Beta bananas”").click()
    a.wait_for_url("**/archive/")
    expect_rows(b, [
        ["Delta dates", False], ["Gamma grapes", False],
        ["Beta bananas", False], ["Alpha apples", False],
    ])  # fmt: skip

    # Both at once on Delta: a pin from A and an archive from B, in flight together.
    open_with_socket(a, gamma_path)
    delta = row(a, "Delta dates").get_attribute("data-conversation-id")
    start = """([url, field]) => {
      const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
      window.__sent = fetch(url, {
        method: 'POST', headers: { Accept: 'application/json' },
        body: new URLSearchParams({ [field]: 'true', csrfmiddlewaretoken: token }),
      }).then((response) => response.status);
    }"""
    a.evaluate(start, [f"/c/{delta}/pin/", "pinned"])
    b.evaluate(start, [f"/c/{delta}/archive/", "archived"])
    assert a.evaluate("() => window.__sent") == 200
    assert b.evaluate("() => window.__sent") == 200
    fresh = a.context.new_page()
    watch(fresh)
    fresh.goto("/")
    truth = rows(fresh)
    # The last write won whole: pinned and first, or archived and gone, never both.
    assert truth in (
        [["Delta dates", True], ["Gamma grapes", False],
         ["Beta bananas", False], ["Alpha apples", False]],
        [["Gamma grapes", False], ["Beta bananas", False], ["Alpha apples", False]],
    ), truth  # fmt: skip
    expect_rows(a, truth)
    expect_rows(b, truth)
    assert not fresh.errors, fresh.errors
    assert not b.errors, b.errors
    close_page(a, app)
