"""Message actions and branches in a real browser (Chromium against a real daphne).

Edit and resend makes a second version (the switcher shows 2/2), switching back shows
the first version's whole continuation, and the model is only ever sent the active path
(asserted on the fake upstream's recorded request bodies). Delete asks first; Esc stops.
Screenshots of the thread with its switcher go to E2E_SCREENSHOTS (default: a
temporary folder), desktop and phone, light and dark, to be looked at.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import USERNAME
from tests.e2e.test_chat_browser import start_chat, wait_for_live_text
from tests.servers import manage
from tests.upstream import FakeUpstream, expected_text

pytestmark = pytest.mark.e2e

DONE = '.msg-assistant[data-status="done"]'


def send(page: Any, text: str, answers: int) -> None:
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")
    expect(page.locator(DONE)).to_have_count(answers)


def shoot(page: Any, shots: Path, name: str) -> None:
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for label, size in (("desktop", (1280, 800)), ("phone", (390, 844))):
            page.set_viewport_size({"width": size[0], "height": size[1]})
            page.screenshot(path=str(shots / f"{name}-{label}-{scheme}.png"))
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 800})


def bodies_with(upstream: FakeUpstream, needle: str) -> list[list[dict[str, str]]]:
    return [
        r.body["messages"]
        for r in upstream.chat_requests
        if any(needle in m["content"] for m in r.body["messages"])
    ]


def test_edit_makes_a_branch_the_switcher_goes_back_and_the_model_sees_one_path(
    page: Any, upstream: FakeUpstream, shots: Path
) -> None:
    start_chat(page, "[[fake tokens=3]] first question")
    expect(page.locator(DONE)).to_have_count(1)
    send(page, "[[fake tokens=2]] second question", 2)
    first = page.locator(".msg-user").first

    first.hover()
    first.locator("[data-action=edit]").click()
    editor = first.locator("[data-edit-form] textarea")
    expect(editor).to_have_value("[[fake tokens=3]] first question")
    editor.fill("[[fake tokens=4]] edited question")
    editor.press("Enter")

    # The edited version and its answer only; the switcher says 2/2.
    expect(page.locator(".msg")).to_have_count(2)
    expect(page.locator(DONE)).to_have_count(1)
    edited = page.locator(".msg-user").first
    expect(edited.locator("[data-bubble]")).to_have_text("[[fake tokens=4]] edited question")
    expect(edited.locator("[data-branch-label]")).to_have_text("2/2")
    expect(page.locator(DONE).locator(".markdown")).to_have_text(expected_text(4))
    # The model was sent the edited question alone: not the first version's exchange.
    (sent,) = bodies_with(upstream, "edited question")
    assert [m["role"] for m in sent] == ["system", "user"]
    assert "first question" not in str(sent)

    shoot(page, shots, "thread-switcher-2of2")

    edited.locator("[aria-label='Previous version']").click()
    expect(page.locator(".msg")).to_have_count(4)
    original = page.locator(".msg-user").first
    expect(original.locator("[data-branch-label]")).to_have_text("1/2")
    expect(page.locator(".msg-user").nth(1).locator("[data-bubble]")).to_have_text(
        "[[fake tokens=2]] second question"
    )

    # Regenerating the first answer on this branch sends this branch's path only.
    upstream.reset()
    page.locator(DONE).first.locator("[data-action=regenerate]").click()
    expect(page.locator(".msg")).to_have_count(2)
    expect(page.locator(DONE)).to_have_count(1)
    (regenerated,) = upstream.chat_requests
    assert [m["content"] for m in regenerated.body["messages"][1:]] == [
        "[[fake tokens=3]] first question"
    ]
    expect(page.locator(DONE).locator("[data-branch-label]")).to_have_text("2/2")

    shoot(page, shots, "thread-answer-versions")

    # Another tab follows: a reload shows the same active path.
    page.reload()
    expect(page.locator(".msg")).to_have_count(2)
    expect(page.locator(DONE).locator("[data-branch-label]")).to_have_text("2/2")


def test_delete_asks_first_and_takes_what_follows(page: Any) -> None:
    start_chat(page, "[[fake tokens=2]] keep me")
    expect(page.locator(DONE)).to_have_count(1)
    send(page, "[[fake tokens=2]] delete me", 2)
    doomed = page.locator(".msg-user").nth(1)

    page.once("dialog", lambda dialog: dialog.dismiss())
    doomed.hover()
    doomed.locator("[data-action=delete]").click()
    page.wait_for_timeout(300)  # A refused confirm sends nothing: nothing to wait for.
    expect(page.locator(".msg")).to_have_count(4)

    messages: list[str] = []

    def accept(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    doomed.hover()
    doomed.locator("[data-action=delete]").click()

    expect(page.locator(".msg")).to_have_count(2)
    assert "everything after it" in messages[0]
    expect(page.locator(".msg-user [data-bubble]")).to_have_text("[[fake tokens=2]] keep me")
    page.reload()
    expect(page.locator(".msg")).to_have_count(2)


def test_copy_puts_the_raw_markdown_on_the_clipboard(page: Any) -> None:
    start_chat(page, "Show me a small Python function")
    answer = page.locator(DONE)
    expect(answer).to_have_count(1)

    answer.locator("[data-action=copy]").click()

    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("### Hello from the fake upstream")
    assert "```python" in copied


def test_esc_stops_a_streaming_answer(page: Any, upstream: FakeUpstream) -> None:
    start_chat(page, "[[fake tokens=500 delay=0.02]] a long answer")
    wait_for_live_text(page, "r0w10 ")

    page.keyboard.press("Escape")

    answer = page.locator('.msg-assistant[data-status="stopped"]')
    expect(answer).to_have_count(1)
    request = upstream.chat_requests[-1]
    assert request.finished.wait(5)
    assert request.client_disconnected


def backdate(app: Any, days: dict[str, int]) -> None:
    """Moves conversations (by title) back in time, in the app's own SQLite database."""
    now = datetime.now(UTC)
    with sqlite3.connect(app.log_path.parent / "db.sqlite3") as db:
        for title, ago in days.items():
            db.execute(
                "UPDATE conversations_conversation SET updated_at = ? WHERE title = ?",
                ((now - timedelta(days=ago)).strftime("%Y-%m-%d %H:%M:%S.%f"), title),
            )


def test_the_sidebar_groups_by_date_and_deletes_in_place_or_all(
    page: Any, app: Any, shots: Path
) -> None:
    page.goto("/")
    if page.locator("[data-delete-all]").count():
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#account-button").click()
        page.locator("[data-delete-all]").click()
        expect(page.locator(".conv")).to_have_count(0)
    for text in ("Old notes", "Last week", "Yesterday's plan", "Fresh idea", "Open one"):
        start_chat(page, f"[[fake tokens=2]] {text}")
        expect(page.locator(DONE)).to_have_count(1)
    backdate(
        app,
        {
            "[[fake tokens=2]] Old notes": 90,
            "[[fake tokens=2]] Last week": 5,
            "[[fake tokens=2]] Yesterday's plan": 1,
        },
    )
    page.reload()
    labels = page.locator(".conv-group-label").all_inner_texts()
    assert labels[:3] == ["Today", "Yesterday", "Previous 7 days"]
    assert len(labels) == 4
    expect(page.locator(".conv")).to_have_count(5)
    shoot(page, shots, "sidebar-grouped")

    # Deleting another conversation keeps the open one open.
    open_url = page.url
    other = page.locator(".conv", has_text="Fresh idea")
    other.hover()
    page.once("dialog", lambda dialog: dialog.accept())
    other.locator("form[data-confirm] button").click()
    expect(page.locator(".conv")).to_have_count(4)
    assert page.url == open_url
    expect(page.locator(".msg-user [data-bubble]")).to_have_text("[[fake tokens=2]] Open one")

    # Delete all asks first: dismissed, nothing goes; accepted, everything does.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("#account-button").click()
    page.locator("[data-delete-all]").click()
    page.wait_for_timeout(300)
    expect(page.locator(".conv")).to_have_count(4)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#account-button").click()
    page.locator("[data-delete-all]").click()
    page.wait_for_url(f"{app.url}/")
    expect(page.locator(".conv")).to_have_count(0)
    expect(page.locator(".conv-empty")).to_be_visible()


def test_scroll_to_bottom_button_and_local_timestamps_on_hover(page: Any) -> None:
    start_chat(page, "[[fake tokens=1500]] a long answer to scroll through")
    expect(page.locator(DONE)).to_have_count(1, timeout=20_000)
    to_bottom = page.locator("#to-bottom")
    expect(to_bottom).to_be_hidden()

    page.evaluate("() => { document.getElementById('thread').scrollTop = 0; }")
    expect(to_bottom).to_be_visible()
    to_bottom.click()
    page.wait_for_function(
        "() => { const t = document.getElementById('thread');"
        " return t.scrollHeight - t.scrollTop - t.clientHeight < 48; }"
    )
    expect(to_bottom).to_be_hidden()

    # The message's time: a <time> shown on hover, its whole date as the tooltip (in the
    # reader's zone: test_message_polish_browser.py).
    question = page.locator(".msg-user").first
    time = question.locator("time.msg-time")
    assert re.fullmatch(r"\d{2}:\d{2}", time.text_content() or "")
    assert time.get_attribute("title")
    assert time.get_attribute("datetime")
    question.hover()
    expect(time).to_have_css("opacity", "1")


def test_a_long_conversation_shows_earlier_messages_on_request_in_place(
    page: Any, app: Any, shots: Path
) -> None:
    start_chat(page, "[[fake tokens=2]] the very first question")
    expect(page.locator(DONE)).to_have_count(1)
    conversation_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    # 118 more messages after the first answer: 120 on the path, 50 to a page.
    manage(app.env, "shell", "-c", (
        "from conversations.models import Conversation, Message\n"
        f"c = Conversation.objects.get(pk={conversation_id})\n"
        "m = c.current_leaf\n"
        "for n in range(118):\n"
        "    m = Message.objects.create(conversation=c, parent=m, content=f'filler {n}',\n"
        "        role='user' if n % 2 == 0 else 'assistant', status='done')\n"
        "c.current_leaf = m\n"
        "c.save()\n"
    ))  # fmt: skip
    page.reload()
    messages = page.locator("#messages .msg")
    expect(messages).to_have_count(50)
    expect(messages.last).to_contain_text("filler 117")
    earlier = page.get_by_role("button", name="Show earlier messages")
    page.evaluate("() => { document.getElementById('thread').scrollTop = 0; }")
    expect(earlier).to_be_visible()
    shoot(page, shots, "thread-earlier-button")

    oldest_shown = messages.first
    expect(oldest_shown).to_contain_text("filler 68")
    top_before = oldest_shown.bounding_box()["y"]
    earlier.click()
    expect(messages).to_have_count(100)
    # What the reader was looking at stays where it was; the older messages are above.
    moved = page.locator("#messages .msg", has_text="filler 68").bounding_box()["y"] - top_before
    assert abs(moved) < 2, moved
    expect(earlier).to_have_count(1)
    earlier.click()
    expect(messages).to_have_count(120)
    expect(earlier).to_have_count(0)
    expect(messages.first).to_contain_text("the very first question")
    ids = [int(i) for i in messages.evaluate_all("els => els.map(e => e.dataset.messageId)")]
    assert ids == sorted(ids)  # oldest first
    assert len(set(ids)) == 120  # each once


def test_the_sidebar_loads_its_next_page_when_its_end_scrolls_into_view(
    page: Any, app: Any, shots: Path
) -> None:
    manage(app.env, "shell", "-c", (
        "from conversations.models import Conversation\n"
        "from django.contrib.auth import get_user_model\n"
        f"user = get_user_model().objects.get(username={USERNAME!r})\n"
        "Conversation.objects.filter(user=user).delete()\n"
        "for n in range(1, 61):\n"
        "    Conversation.objects.create(user=user, title=f'Bulk chat {n}')\n"
    ))  # fmt: skip
    page.goto("/")
    rows = page.locator(".conv")
    expect(rows).to_have_count(28)  # the sidebar's page: the newest first
    expect(rows.first).to_contain_text("Bulk chat 60")
    shoot(page, shots, "sidebar-first-page")
    nav = page.locator(".conv-nav")
    # Short of the end: "Load more" still out of view, within 200 px below it (measured
    # in the same task as the scroll, before the observer can answer).
    below = nav.evaluate(
        "el => { el.scrollTop = el.scrollHeight - el.clientHeight - 120;"
        " return el.querySelector('[data-load-more]').getBoundingClientRect().top"
        " - el.getBoundingClientRect().bottom; }"
    )
    assert 0 < below < 200, below
    expect(rows).to_have_count(56)
    nav.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(rows).to_have_count(60)
    expect(page.locator("[data-load-more]")).to_have_count(0)
    titles = rows.locator(".conv-title").all_inner_texts()
    assert titles == [f"Bulk chat {n}" for n in range(60, 0, -1)]  # each once, in order
