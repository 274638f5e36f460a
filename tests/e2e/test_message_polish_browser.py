"""A message's polish in a real browser (issue 20, item 10), walked in one conversation:
code highlighted while the answer streams (its finished blocks never drawn again), the
time of each message on hover, focus and tap, in the reader's time zone, the markdown
source toggle, long messages folded with "Show more" (not the one a search result jumps
to), and an answer's thumbs kept after a reload. Screenshots: desktop and phone, light
and dark (E2E_SCREENSHOTS keeps them to be looked at)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import PHONE, SIZES, new_context, open_page, sign_in, watch
from tests.servers import Daphne

pytestmark = pytest.mark.e2e

ZONE = "Asia/Tokyo"
CODE_LINES = "\n".join(f"    total = total + {i}  # step {i}" for i in range(40))
# Streamed a word at a time, slowly enough to be seen mid-stream: a paragraph, then a
# Python block whose lines arrive one after the other.
STREAMED = (
    "[[fake echo=1 delay=0.02]] First a paragraph that is finished early.\n\n"
    "```python\ndef add(total):\n" + CODE_LINES + '\n    return "done"\n```\n\nThe end.'
)
# Long enough to be folded on any screen: 120 short paragraphs.
LONG = "[[fake echo=1 burst=1]] " + "\n\n".join(f"Line **{i}** of a long text." for i in range(120))


def local_hhmm(iso: str, zone: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(zoneinfo.ZoneInfo(zone)).strftime("%H:%M")


def send(page: Any, text: str) -> None:
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")


def test_a_message_walks_through_its_polish(browser: Any, app: Daphne, shots: Path) -> None:
    context = new_context(browser, app, viewport=SIZES["desktop"], timezone_id=ZONE)
    page = context.new_page()
    errors = watch(page)
    sign_in(page)
    # The first page reports the browser's zone (timezone.js); from the next one on, the
    # server renders times in it.
    page.goto("/")
    page.wait_for_load_state("networkidle")
    page.reload()
    assert page.locator("#chat").get_attribute("data-time-zone") == ZONE

    # 1. Code is highlighted while the answer streams; what is finished is never redrawn.
    send(page, STREAMED)
    page.wait_for_url("**/c/*/")
    live = page.locator(".msg-assistant.is-streaming")
    expect(live.locator(".codehilite code .k").first).to_have_text("def")
    # The line being written is redrawn each frame: take its nodes only once it is over
    # (the next line has begun), when they are the block's for good.
    page.wait_for_function(
        "() => document.querySelector('.msg-assistant.is-streaming .codehilite code')"
        "?.textContent.includes('total = total')"
    )
    page.evaluate(
        """() => {
          const body = document.querySelector('.msg-assistant.is-streaming .markdown');
          window.firstParagraph = body.querySelector(':scope > p');
          window.firstKeyword = body.querySelector('.codehilite code .k');
        }"""
    )
    page.wait_for_function(
        "() => document.querySelector('.msg-assistant.is-streaming .codehilite code')"
        "?.textContent.includes('# step 20')"
    )
    still = page.evaluate(
        """() => {
          const body = document.querySelector('.msg-assistant.is-streaming .markdown');
          return {
            paragraph: body.querySelector(':scope > p') === window.firstParagraph,
            keyword: window.firstKeyword.isConnected,
            comments: body.querySelectorAll('.codehilite .c1').length,
            numbers: body.querySelectorAll('.codehilite .mi').length,
            label: body.querySelector('.code-lang')?.textContent,
          };
        }"""
    )
    assert still["paragraph"], still
    assert still["keyword"], still
    assert still["comments"] >= 20, still
    assert still["numbers"] >= 20, still
    assert still["label"] == "python"
    page.screenshot(path=str(shots / "polish-streaming-desktop-light.png"))
    if errors:
        raise AssertionError(errors)
    answer = page.locator(".msg-assistant").last
    expect(answer).to_have_attribute("data-status", "done")
    # The server's Pygments HTML replaced it: the same text, the same shape.
    assert answer.locator(".codehilite code").text_content().count("# step") == 40
    expect(answer.locator(".codehilite .nf")).to_have_text("add")

    # 2. The time of a message, in the reader's zone, on hover.
    question = page.locator(".msg-user").last
    time = question.locator("time.msg-time")
    iso = time.get_attribute("datetime")
    assert iso
    expect(time).to_have_text(local_hhmm(iso, ZONE))
    page.mouse.move(5, 5)
    expect(time).to_have_css("opacity", "0")
    question.hover()
    expect(time).to_have_css("opacity", "1")

    # 3. The markdown source of the answer, by keyboard, and back.
    source = answer.locator('[data-tool="source"]')
    source.focus()
    page.keyboard.press("Enter")
    expect(source).to_have_attribute("aria-pressed", "true")
    raw = answer.locator(".msg-source")
    expect(raw).to_be_visible()
    # (A form's POST, the first message's way in, sends its newlines as CRLF.)
    assert (
        raw.text_content()
        .replace("\r\n", "\n")
        .startswith("First a paragraph that is finished early.\n\n```python\n")
    )
    assert raw.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    expect(answer.locator("[data-markdown]")).to_be_hidden()
    page.keyboard.press("Enter")
    expect(raw).to_have_count(0)
    expect(answer.locator("[data-markdown]")).to_be_visible()
    # A question's source too.
    question.locator('[data-tool="source"]').click()
    assert question.locator(".msg-source").text_content().replace("\r\n", "\n") == STREAMED
    question.locator('[data-tool="source"]').click()

    # 4. Thumbs up, kept after a reload; then down; then taken back.
    up = answer.locator('[data-tool="rate"][data-rating="up"]')
    down = answer.locator('[data-tool="rate"][data-rating="down"]')
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    page.reload()
    answer = page.locator(".msg-assistant").last
    up = answer.locator('[data-tool="rate"][data-rating="up"]')
    down = answer.locator('[data-tool="rate"][data-rating="down"]')
    expect(up).to_have_attribute("aria-pressed", "true")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    page.reload()
    answer = page.locator(".msg-assistant").last
    down = answer.locator('[data-tool="rate"][data-rating="down"]')
    expect(down).to_have_attribute("aria-pressed", "true")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "false")
    page.reload()
    expect(page.locator('.msg-assistant [aria-pressed="true"]')).to_have_count(0)

    # 5. A server-rendered time, on keyboard focus of its message.
    answer = page.locator(".msg-assistant").last
    time = answer.locator("time.msg-time")
    expect(time).to_have_text(local_hhmm(time.get_attribute("datetime") or "", ZONE))
    assert re.match(r".*\d{4}", time.get_attribute("title") or "")
    page.mouse.move(5, 5)
    answer.focus()
    expect(time).to_have_css("opacity", "1")

    # 6. A long question is folded at once; its answer, finished in front of the reader,
    # is not, until the page shows it again.
    # The new answer, not the last one shown before it arrives (which is already done).
    answers = page.locator(".msg-assistant")
    shown = answers.count()
    send(page, LONG)
    expect(answers).to_have_count(shown + 1)
    long_answer = answers.nth(shown)
    expect(long_answer).to_have_attribute("data-status", "done")
    long_question = page.locator(".msg-user").last
    expect(long_question).to_have_class(re.compile(r"\bis-folded\b"))
    # Its time came with it over the socket, shown in the page's zone.
    time = long_question.locator("time.msg-time")
    expect(time).to_have_attribute("datetime", re.compile(r"^\d{4}-"))
    expect(time).to_have_text(local_hhmm(time.get_attribute("datetime") or "", ZONE))
    assert "is-folded" not in (long_answer.get_attribute("class") or "")
    page.reload()
    long_answer = page.locator(".msg-assistant").last
    expect(long_answer).to_have_class(re.compile(r"\bis-folded\b"))
    more = long_answer.locator('[data-tool="more"]')
    expect(more).to_have_text("Show more")
    expect(more).to_have_attribute("aria-expanded", "false")
    body = long_answer.locator("[data-markdown]")
    folded_height = body.evaluate("e => e.getBoundingClientRect().height")
    assert folded_height < 800
    page.screenshot(path=str(shots / "polish-folded-desktop-light.png"))
    more.click()
    expect(more).to_have_text("Show less")
    expect(more).to_have_attribute("aria-expanded", "true")
    assert body.evaluate("e => e.getBoundingClientRect().height") > 1600
    # A search result that jumps to it shows it whole.
    message_id = long_answer.get_attribute("data-message-id")
    chat_url = page.url.split("#")[0].split("?")[0]
    page.goto(f"{chat_url}?message={message_id}#message-{message_id}")
    target = page.locator(f"#message-{message_id}")
    expect(target).to_have_class(re.compile(r"\bis-found\b"))
    assert "is-folded" not in (target.get_attribute("class") or "")
    expect(page.locator(".msg-user").last).to_have_class(re.compile(r"\bis-folded\b"))
    context.close()
    assert not errors, errors

    # 7. On a phone, a tap shows a message's time; the pictures.
    for size, viewport in SIZES.items():
        for scheme in ("light", "dark"):
            p = open_page(
                browser,
                app,
                reuse_session=True,
                viewport=viewport,
                color_scheme=scheme,
                timezone_id=ZONE,
            )
            context, errors = p.context, p.errors
            p.goto(chat_url)
            first = p.locator(".msg-assistant").first
            up = first.locator('[data-tool="rate"][data-rating="up"]')
            if up.get_attribute("aria-pressed") != "true":
                up.click()
            expect(first.locator('[data-rating="up"]')).to_have_attribute("aria-pressed", "true")
            # The end of the answer: its code, its thumbs, its time.
            first.evaluate("e => e.querySelector('.msg-meta').scrollIntoView({block: 'center'})")
            if viewport == PHONE:
                first.locator(".markdown p").last.tap()
            else:
                first.locator(".markdown p").last.hover()
            expect(first.locator("time.msg-time")).to_have_css("opacity", "1")
            p.screenshot(path=str(shots / f"polish-{size}-{scheme}.png"))
            p.locator(".msg-assistant").last.scroll_into_view_if_needed()
            p.screenshot(path=str(shots / f"polish-folded-{size}-{scheme}.png"))
            context.close()
            assert not errors, errors
