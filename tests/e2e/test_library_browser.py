"""Finding and moving conversations in a real browser (Chromium against a real daphne):
search → jump, the `/` prompt picker, importing chatgpt-web's history file, and a shared
link opened signed out, then revoked. Every page runs under the app's CSP; a violation
or a script error fails the test (the `page` fixture).

Screenshots (desktop and phone, light and dark) of the search results, the prompt picker,
the import page and the shared page go to $E2E_SCREENSHOTS (default: a temporary folder).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, USERNAME, open_page, share_token
from tests.servers import Daphne

pytestmark = pytest.mark.e2e

FIXTURE = Path(__file__).parent.parent / "fixtures" / "chat-store_2024-11-22.json"
PROMPTS = [
    ("Poet", "Act as a poet and write about the sea."),
    ("Proofreader", "Proofread the following text."),
]


def import_fixture(page: Any) -> None:
    page.goto("/import/")
    page.set_input_files("#import-file", str(FIXTURE))
    page.click("form.lib-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


@pytest.fixture(scope="module")
def imported(browser: Any, app: Daphne) -> None:
    """The chatgpt-web fixture, imported once for the module's tests."""
    p = open_page(browser, app)
    import_fixture(p)
    p.context.close()


def shoot(
    browser: Any, app: Daphne, shots: Path, name: str, setup: Any, *, signed_in: bool = True
) -> None:
    """Screenshots of one state at both sizes in both colour schemes, no CSP error."""
    for size, viewport in SIZES.items():
        for scheme in ("light", "dark"):
            p = open_page(
                browser,
                app,
                username=USERNAME if signed_in else None,
                reuse_session=True,
                viewport=viewport,
                color_scheme=scheme,
            )
            setup(p, size)
            p.screenshot(path=str(shots / f"{name}-{size}-{scheme}.png"))
            p.context.close()
            assert not p.errors, p.errors


def test_import_of_a_chatgpt_web_history_shows_its_conversations_and_error(
    page: Any,
    imported: None,
) -> None:
    page.goto("/")
    sidebar = page.locator("#conv-list")
    for title in ("排序算法", "Trip to Lisbon", "Failing request"):
        expect(sidebar.get_by_text(title, exact=True).first).to_be_visible()
    page.locator("#conv-list").get_by_text("Failing request", exact=True).first.click()
    callout = page.locator(".msg-assistant .msg-callout").first
    expect(callout).to_contain_text("The answer failed.")
    expect(callout).to_contain_text("Request failed with status code 429")
    expect(page.locator(".msg-assistant .markdown code").first).to_have_count(0)


def test_a_refused_import_says_why(page: Any, tmp_path: Path) -> None:
    bad = tmp_path / "chat-store_broken.json"
    bad.write_bytes(FIXTURE.read_bytes()[:300])
    page.goto("/import/")
    page.set_input_files("#import-file", str(bad))
    page.click("form.lib-form button[type=submit]")
    expect(page.locator("#import-error")).to_contain_text("not valid JSON")


def test_search_jumps_to_the_message(page: Any, imported: None) -> None:
    page.goto("/")
    page.fill("#sidebar-search-q", "Mouraria")
    hit = page.locator("#sidebar-search-results .search-hit a").first
    expect(hit.locator("mark")).to_have_text("Mouraria")
    expect(page.locator(".conv-nav")).to_be_hidden()
    page.keyboard.press("ArrowDown")
    expect(hit).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/c/\d+/\?message=\d+#message-\d+$"))
    message_id = page.url.rsplit("#message-", 1)[1]
    target = page.locator(f"#message-{message_id}")
    expect(target).to_have_class(re.compile(r"\bis-found\b"))
    expect(target).to_contain_text("tascas")
    expect(target).to_be_in_viewport()


def test_slash_inserts_a_saved_prompt(page: Any) -> None:
    for title, text in PROMPTS:
        page.goto("/prompts/")
        page.fill("#prompt-title", title)
        page.fill("#prompt-text", text)
        page.click(".prompt-form button[type=submit]")
    expect(page.locator(".prompt-row")).to_have_count(2)

    page.goto("/")
    page.click("#composer-text")
    page.keyboard.type("/p")
    picker = page.locator("#prompt-picker")
    expect(picker.locator("[role=option]")).to_have_count(2)
    page.keyboard.type("r")
    expect(picker.locator("[role=option]")).to_have_count(1)  # Only "Proofreader"
    page.keyboard.press("Backspace")
    page.keyboard.press("ArrowDown")
    expect(picker.locator("[aria-selected=true]")).to_contain_text("Proofreader")
    page.keyboard.press("Enter")
    expect(page.locator("#composer-text")).to_have_value("Proofread the following text.")
    expect(picker).to_be_hidden()
    assert "/c/" not in page.url  # Enter chose the prompt; it did not send.
    page.fill("#composer-text", "")
    page.keyboard.type("/")
    expect(picker).to_be_visible()
    page.keyboard.press("Escape")
    expect(picker).to_be_hidden()


def test_share_open_signed_out_then_revoke(
    page: Any,
    browser: Any,
    app: Daphne,
    imported: None,
) -> None:
    page.goto("/")
    page.locator("#conv-list").get_by_text("Trip to Lisbon", exact=True).first.click()
    page.click("#conv-menu > summary")
    page.click("#share-form button")
    expect(page.locator("#share-form")).to_have_attribute("data-url", re.compile(r"/s/[\w-]{43}/$"))
    url = page.locator("#share-form").get_attribute("data-url")

    stranger = browser.new_context()
    try:
        public = stranger.new_page()
        response = public.goto(url)
        assert response.status == 200
        assert response.headers["x-robots-tag"] == "noindex, nofollow"
        expect(public.locator("meta[name=robots]")).to_have_attribute(
            "content", "noindex, nofollow"
        )
        expect(public.locator("h1")).to_have_text("Trip to Lisbon")
        expect(public.locator(".markdown h2").first).to_have_text("Day 1")
        expect(public.locator("#sidebar, #composer")).to_have_count(0)

        page.goto("/shared/")
        page.once("dialog", lambda dialog: dialog.accept())
        row = page.locator(".share-row", has=page.locator(f"input[value='{url}']"))
        row.get_by_role("button", name="Revoke").click()
        expect(page.locator(f"input[value='{url}']")).to_have_count(0)

        assert public.goto(url).status == 404
    finally:
        stranger.close()


def test_screenshots(browser: Any, app: Daphne, shots: Path, imported: None) -> None:
    def search(p: Any, size: str) -> None:
        p.goto("/")
        if size == "phone":
            p.click("[data-drawer-toggle]")
        p.fill("#sidebar-search-q", "Lisbon")
        expect(p.locator("#sidebar-search-results .search-hit").first).to_be_visible()

    def picker(p: Any, size: str) -> None:
        p.goto("/")
        p.click("#composer-text")
        p.keyboard.type("/")
        expect(p.locator("#prompt-picker [role=option]").first).to_be_visible()

    def import_page(p: Any, size: str) -> None:
        p.goto("/import/")

    p = open_page(browser, app)
    for title, text in PROMPTS:  # Already there when the / test ran first: refused, fine.
        p.goto("/prompts/")
        p.fill("#prompt-title", title)
        p.fill("#prompt-text", text)
        p.click(".prompt-form button[type=submit]")
    p.context.close()

    shoot(browser, app, shots, "library-search", search)
    shoot(browser, app, shots, "library-prompt-picker", picker)

    def conversation_menu(p: Any, size: str) -> None:
        p.goto("/")
        if size == "phone":
            p.click("[data-drawer-toggle]")
        p.locator("#conv-list").get_by_text("Trip to Lisbon", exact=True).first.click()
        p.click("#conv-menu > summary")
        expect(p.locator("#share-form button")).to_be_visible()

    shoot(browser, app, shots, "library-import", import_page)
    shoot(browser, app, shots, "library-conversation-menu", conversation_menu)

    # A shared page: share an imported chat, then look at it signed out.
    p = open_page(browser, app)
    p.locator("#conv-list").get_by_text("Trip to Lisbon", exact=True).first.click()
    # The click navigates: wait for the conversation's page before using its share form.
    p.wait_for_url("**/c/*/")
    p.locator("#share-form").wait_for(state="attached")
    token = share_token(p)
    p.context.close()
    shoot(
        browser,
        app,
        shots,
        "library-shared",
        lambda p, size: p.goto(f"/s/{token}/"),
        signed_in=False,
    )
    assert len(list(shots.glob("library-*.png"))) == 20
