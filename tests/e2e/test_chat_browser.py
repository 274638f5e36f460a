"""The chat in a real browser: Debian's Chromium (through Playwright) against a real daphne
process on its own SQLite database, answering from the fake OpenAI-compatible upstream.

What only a browser shows: the page signs in, the composer sends, the answer streams in
as live markdown and ends as the server's HTML with a copyable code block; a reload in the
middle of an answer picks the stream up again with no gap and no duplicated text; Stop
ends the answer as "stopped" and really closes the upstream request.

The fixtures (browser, app, upstream, a signed-in page) are tests/e2e/conftest.py's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import USERNAME
from tests.servers import Daphne, manage
from tests.upstream import FakeUpstream, expected_text

pytestmark = pytest.mark.e2e


def start_chat(page: Any, text: str) -> None:
    """Sends the first message from the home page's composer (a plain POST form)."""
    page.goto("/")
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")


def live_text(page: Any) -> str:
    """The text of the streaming answer as the browser renders it ("" when none)."""
    return str(
        page.evaluate(
            "() => document.querySelector('.msg-assistant.is-streaming .markdown')"
            "?.textContent ?? ''"
        )
    ).strip()


def wait_for_live_text(page: Any, needle: str) -> None:
    page.wait_for_function(
        "needle => document.querySelector('.msg-assistant.is-streaming .markdown')"
        "?.textContent.includes(needle)",
        arg=needle,
    )


def test_a_new_chat_streams_markdown_with_a_copyable_code_block(page: Any) -> None:
    start_chat(page, "Show me a small Python function")

    answer = page.locator('.msg-assistant[data-status="done"]')
    expect(answer).to_have_count(1)
    expect(page.locator(".msg-user .bubble")).to_have_text("Show me a small Python function")
    markdown = answer.locator(".markdown")
    assert markdown.locator("h3").inner_text() == "Hello from the fake upstream"
    assert markdown.locator("strong").first.inner_text() == "Show me a small Python function"
    # The server's canonical HTML, highlighted by Pygments, framed with a Copy button.
    code = markdown.locator(".code-block .codehilite pre")
    assert "def greet" in code.inner_text()
    assert code.locator("span.k").count() > 0

    copy = markdown.locator(".code-block .copy-code")
    copy.click()
    expect(copy).to_have_text("Copied!")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("def greet(name: str) -> str:")

    expect(answer.locator(".regenerate-btn")).to_be_visible()
    expect(page.locator("#send-btn")).to_be_visible()
    expect(page.locator("#stop-btn")).to_be_hidden()


def test_a_reload_mid_answer_continues_without_gap_or_duplicate(
    page: Any, upstream: FakeUpstream
) -> None:
    tokens = 300
    expected = expected_text(tokens)
    start_chat(page, f"[[fake tokens={tokens} delay=0.02]] count for me")
    wait_for_live_text(page, "r0w100 ")
    assert expected.startswith(live_text(page))

    page.reload()
    # The page shows the text so far at once, then follows the stream from a snapshot.
    seen: list[str] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        text = live_text(page)
        if not text and seen:
            break  # The answer ended; the server's HTML took over.
        if text:
            seen.append(text)
        time.sleep(0.05)
    assert len(seen) > 5, "the answer was not seen streaming after the reload"
    for text in seen:
        assert expected.startswith(text), f"gap or duplicate in the live text: {text[-200:]!r}"
    assert len(seen[-1]) > len(seen[0])

    answer = page.locator('.msg-assistant[data-status="done"]')
    expect(answer).to_have_count(1)
    assert answer.locator(".markdown").inner_text().strip() == expected


def test_stop_ends_the_answer_as_stopped(page: Any, upstream: FakeUpstream) -> None:
    upstream.reset()
    tokens = 500
    start_chat(page, f"[[fake tokens={tokens} delay=0.02]] a long answer")
    wait_for_live_text(page, "r0w10 ")
    stop = page.locator("#stop-btn")
    expect(stop).to_be_visible()
    expect(page.locator("#send-btn")).to_be_hidden()

    stop.click()

    answer = page.locator('.msg-assistant[data-status="stopped"]')
    expect(answer).to_have_count(1)
    expect(answer.locator(".msg-note")).to_have_text("Stopped.")
    kept = answer.locator(".markdown").inner_text().strip()
    assert kept
    assert expected_text(tokens).startswith(kept)
    expect(page.locator("#send-btn")).to_be_visible()
    expect(answer.locator(".regenerate-btn")).to_be_visible()
    # Stop really stops: the app closed its request to the model.
    request = upstream.chat_requests[-1]
    assert request.finished.wait(5)
    assert request.client_disconnected
    assert request.tokens_sent < tokens


def test_a_rejected_message_goes_back_into_the_composer(page: Any) -> None:
    start_chat(page, "[[fake tokens=3]] hello")
    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    # A model the server does not offer (as if the list changed since the page loaded).
    page.evaluate(
        """() => {
            const select = document.getElementById("model-select");
            select.add(new Option("retired-model", "retired-model"));
            select.value = "retired-model";
        }"""
    )
    page.fill("#composer-text", "Words I do not want to type again")
    page.keyboard.press("Enter")

    expect(page.locator("#toasts .toast")).to_be_visible()
    expect(page.locator("#composer-text")).to_have_value("Words I do not want to type again")
    expect(page.locator(".msg-user")).to_have_count(1)


def test_the_chat_marks_where_older_messages_left_the_models_view(
    page: Any, app: Daphne, upstream: FakeUpstream, shots: Path
) -> None:
    # A model with a 200-token input budget (700 - 500), for this user only.
    setup = (
        "from catalog.models import ChatModel, Provider, SiteSettings; "
        "from django.contrib.auth import get_user_model; "
        f"p = Provider.objects.create(name='e2e-tiny', base_url={upstream.base_url!r}); "
        "m = ChatModel.objects.create(provider=p, model_id='fake-model', name='tiny', "
        "context_window=700, max_output_tokens=500); "
        f"m.users.add(get_user_model().objects.get(username={USERNAME!r})); "
        "SiteSettings(default_model='tiny').save()"
    )
    manage(app.env, "shell", "-c", setup)
    try:
        # Made by another process: the server sees it within CATALOG_RECHECK_SECONDS (the
        # catalog's version is in a file shared by the processes of the embedded setup).
        for _ in range(20):
            page.goto("/")
            if page.locator('#model-select option[value="tiny"]').count():
                break
            page.wait_for_timeout(250)
        expect(page.locator('#model-select option[value="tiny"]')).to_have_count(1)
        start_chat(page, "[[fake tokens=3]] " + "word " * 300)
        expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
        expect(page.locator(".context-cut")).to_have_count(0)
        # The long question no longer fits next to the new one: its whole turn (question
        # and answer) is left out, never the answer without it, and the mark appears live
        # right before the new question (the oldest message the model was sent).
        page.fill("#composer-text", "[[fake tokens=3]] and now?")
        page.keyboard.press("Enter")
        expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(2)
        cut = page.locator(".context-cut")
        expect(cut).to_have_count(1)
        # The picker shows the admin model's own window (700 tokens).
        expect(page.locator('#model-select option[value="tiny"]')).to_have_text(
            "tiny · 700 context"
        )
        page.screenshot(path=str(shots / "chat-context-cut.png"))
        assert cut.evaluate("el => el.nextElementSibling.dataset.role") == "user"
        assert "and now?" in cut.evaluate("el => el.nextElementSibling.textContent")
        page.reload()
        expect(page.locator(".context-cut")).to_have_count(1)
    finally:
        manage(app.env, "shell", "-c", "from catalog.models import Provider, SiteSettings; "
               "Provider.objects.filter(name='e2e-tiny').delete(); "
               "SiteSettings.objects.all().delete()")  # fmt: skip


def test_on_a_phone_the_conversation_list_is_a_drawer(page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    sidebar = page.locator("#sidebar")
    menu = page.locator("button[data-drawer-toggle]")
    expect(sidebar).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")

    menu.click()
    expect(sidebar).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    # The account menu opens inside the drawer.
    sidebar.locator("#account-button").click()
    expect(sidebar.get_by_role("menuitem", name="Sign out")).to_be_visible()
    page.keyboard.press("Escape")
    expect(sidebar.get_by_role("menu")).to_be_hidden()
    expect(sidebar.locator("#account-button")).to_be_focused()

    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()


def test_the_page_serves_its_vendored_libraries_with_their_licences(app: Daphne) -> None:
    for path in (
        "/static/vendor/marked/marked.esm.js",
        "/static/vendor/marked/LICENSE",
        "/static/vendor/dompurify/purify.es.mjs",
        "/static/vendor/dompurify/LICENSE",
    ):
        response = httpx.get(app.url + path, timeout=10)
        assert response.status_code == 200, path
    module = httpx.get(app.url + "/static/vendor/dompurify/purify.es.mjs", timeout=10)
    # Browsers refuse ES modules served with a non-JavaScript type.
    assert "javascript" in module.headers["content-type"]


def test_signing_out_elsewhere_closes_the_socket_for_good_with_a_message(
    page: Any, app: Daphne
) -> None:
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(ws.url))
    start_chat(page, "[[fake tokens=3]] hello")
    expect(page.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
    assert len(opened) == 1
    # Signing out (here from a script in the same session, as another tab would) closes
    # the socket with 4401: the page says so and does not reconnect.
    page.evaluate(
        """() => fetch("/accounts/logout/", {
            method: "POST",
            headers: {"X-CSRFToken": document.cookie.match(/csrftoken=([^;]+)/)[1]},
        })"""
    )
    expect(page.locator("#conn-status")).to_have_text("Signed out")
    expect(page.locator("#conn-status")).to_have_attribute("data-close-code", "4401")
    expect(page.locator("#toasts .toast")).to_contain_text("Your session has ended.")
    # Even when the network or the tab comes back, nothing retries.
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_timeout(2500)  # longer than the first reconnect delay (0.5 s ± 25 %)
    assert len(opened) == 1, opened


def test_a_socket_closed_with_4404_is_not_retried(page: Any) -> None:
    start_chat(page, "[[fake tokens=3]] hello")
    statuses = page.evaluate(
        """async () => {
            const { ChatSocket } = await import("chatweb/socket.js");
            const seen = [];
            let opens = 0;
            const socket = new ChatSocket("/ws/conversations/999999/", {
                onFrame: () => {},
                onStatus: (state, code) => {
                    if (state === "open") opens += 1;
                    seen.push([state, code ?? null]);
                },
            });
            socket.connect();
            await new Promise((resolve) => setTimeout(resolve, 2500));
            window.dispatchEvent(new Event("online"));
            await new Promise((resolve) => setTimeout(resolve, 500));
            return { seen, opens };
        }"""
    )
    # Accepted, then closed with 4404 (not refused: the browser would only see 1006), and
    # never retried.
    assert statuses == {"seen": [["open", None], ["closed", 4404]], "opens": 1}
