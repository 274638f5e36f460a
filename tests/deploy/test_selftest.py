"""The streaming self-test tells a streaming proxy from a buffering one.

Both run the project's nginx config in front of the same two instances; the buffering one
differs in a single location (conftest.buffering_variant). The verdict is read twice: by
streamcheck (the page's rule, in Python) and from the real page in headless Chromium.
"""

from __future__ import annotations

import shutil

import pytest

from streaming.diagnostics import SELF_TEST_EVENTS
from tests.deploy.conftest import Nginx, Stack
from tests.deploy.streamcheck import classify, read_stream, spreads
from tests.servers import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.deploy


def _read_through(stack: Stack, nginx: Nginx) -> tuple[str, float, float]:
    events = read_stream(f"{nginx.base_url}/admin-tools/diagnostics/stream/", cookies=stack.cookies)
    sent, arrived = spreads(events)
    return classify(events, SELF_TEST_EVENTS), sent, arrived


def test_the_http_stream_arrives_spread_through_the_project_nginx(stack: Stack) -> None:
    verdict, sent, arrived = _read_through(stack, stack.nginx)
    print(
        f"\ndeploy: self-test through nginx: sent over {sent:.0f} ms, arrived over {arrived:.0f} ms"
    )
    assert verdict == "ok"


def test_the_http_stream_is_reported_buffered_through_a_buffering_nginx(
    stack: Stack, buffering_nginx: Nginx
) -> None:
    verdict, sent, arrived = _read_through(stack, buffering_nginx)
    print(
        f"\ndeploy: self-test through buffering nginx: sent over {sent:.0f} ms, "
        f"arrived over {arrived:.0f} ms"
    )
    assert verdict == "buffered"


def _page_verdicts(stack: Stack, nginx: Nginx) -> dict[str, tuple[str, str]]:
    """Open the diagnostics page through `nginx`; {channel: (state, text)} once it is done."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.add_cookies(
                [{"name": "sessionid", "value": stack.session_key, "url": nginx.base_url}]
            )
            page = context.new_page()
            page.goto(f"{nginx.base_url}/admin-tools/diagnostics/", timeout=15_000)
            verdicts = {}
            for channel in ("websocket", "http"):
                verdict = page.locator(f'[data-channel="{channel}"] [data-verdict]')
                sync_api.expect(verdict).not_to_have_attribute(
                    "data-state", "running", timeout=20_000
                )
                fix = page.locator(f'[data-channel="{channel}"] [data-fix]')
                verdicts[channel] = (
                    verdict.get_attribute("data-state") or "",
                    verdict.inner_text() + " " + (fix.inner_text() if fix.is_visible() else ""),
                )
            rows = page.locator('[data-channel="http"] [data-timings] tr').count()
            assert rows == SELF_TEST_EVENTS + 1, "one timing row per event, and a header"
            return verdicts
        finally:
            browser.close()


def test_the_page_reports_streaming_ok_through_the_project_nginx(stack: Stack) -> None:
    verdicts = _page_verdicts(stack, stack.nginx)
    assert verdicts["websocket"][0] == "ok", verdicts
    assert verdicts["http"][0] == "ok", verdicts
    assert "streaming OK" in verdicts["http"][1]


def test_the_page_reports_buffering_and_names_the_fix(stack: Stack, buffering_nginx: Nginx) -> None:
    verdicts = _page_verdicts(stack, buffering_nginx)
    assert verdicts["websocket"][0] == "ok", verdicts
    state, text = verdicts["http"]
    assert state == "buffered", verdicts
    assert "buffered: events arrived all at once" in text
    assert "proxy_buffering off" in text
