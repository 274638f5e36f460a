"""The user's time zone in a real browser (Debian's Chromium against a real daphne): the
browser's own zone (Playwright's timezone_id) is picked up on the first page and a time is
shown in it; another device elsewhere does not overwrite it; the settings field's
screenshots, desktop and phone, light and dark, and in Simplified Chinese."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
from django.utils import dateformat
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, close_page, open_page, run_axe, sign_in
from tests.servers import Daphne

pytestmark = pytest.mark.e2e

KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")  # UTC+05:30: no minute of it reads as UTC's


def signed_in_reporting(page: Any) -> None:
    """Signs in and waits for the first page's report of the browser's zone."""
    with page.expect_response(lambda r: r.url.endswith("/settings/time-zone/")) as report:
        sign_in(page)
    assert report.value.status == 200


def shown(at: dt.datetime) -> str:
    """A moment as the token list shows it (DATETIME_FORMAT, English)."""
    return dateformat.format(at, "N j, Y, P")


def test_the_browsers_zone_is_picked_up_and_times_are_shown_in_it(
    browser: Any, app: Daphne
) -> None:
    page = open_page(browser, app, username=None, timezone_id="Asia/Kolkata")
    try:
        signed_in_reporting(page)
        page.goto("/settings/")
        expect(page.locator("#id_time_zone")).to_have_value("Asia/Kolkata")
        assert page.locator("script[data-time-zone-url]").count() == 0  # asked once
        # A time on the page: the new token's "Created", in Kolkata's time.
        before = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        page.fill("#id_token-name", "laptop script")
        page.get_by_role("button", name="Create token").click()
        expect(page.locator("#new-token")).to_be_visible()
        after = dt.datetime.now(dt.UTC)
        facts = page.locator(".token-list .token-facts > div")
        created = facts.filter(has=page.locator("dt", has_text="Created")).locator("dd")
        created = created.text_content() or ""
        minutes = [before + dt.timedelta(minutes=m) for m in range(3)]
        minutes = [m for m in minutes if m <= after]
        assert created.strip() in {shown(m.astimezone(KOLKATA)) for m in minutes}, created
        assert created.strip() not in {shown(m) for m in minutes}
    finally:
        close_page(page, app)


def test_another_device_elsewhere_does_not_overwrite_it(browser: Any, app: Daphne) -> None:
    # Runs after the test above (same module, same user): the zone is Kolkata's already.
    page = open_page(browser, app, username=None, timezone_id="America/New_York")
    try:
        sign_in(page)
        assert page.locator("script[data-time-zone-url]").count() == 0
        page.goto("/settings/")
        expect(page.locator("#id_time_zone")).to_have_value("Asia/Kolkata")
        # The settings page changes it.
        page.select_option("#id_time_zone", "America/New_York")
        page.get_by_role("button", name="Save settings").click()
        page.wait_for_load_state()
        page.goto("/settings/")
        expect(page.locator("#id_time_zone")).to_have_value("America/New_York")
    finally:
        close_page(page, app)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(browser: Any, app: Daphne, shots: Path, scheme: str) -> None:
    """The field on each size; on a desktop, axe-core's check of the page."""
    for size, viewport in SIZES.items():
        page = open_page(browser, app, reuse_session=True, viewport=viewport, color_scheme=scheme)
        try:
            page.goto("/settings/")
            field = page.locator(".field:has(#id_time_zone)")
            expect(field).to_be_visible()
            widths = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], f"{size}: wider than the screen"
            if size == "desktop":
                assert run_axe(page) == []
            page.locator("section[aria-labelledby=look-heading]").screenshot(
                path=str(shots / f"time-zone-{size}-{scheme}.png")
            )
        finally:
            close_page(page, app)


def test_the_field_in_chinese(browser: Any, app: Daphne, shots: Path) -> None:
    page = open_page(browser, app, reuse_session=True, color_scheme="dark", locale="zh-CN")
    try:
        page.goto("/settings/")
        expect(page.locator("label[for=id_time_zone]")).to_contain_text("时区")
        expect(page.locator("#id_time_zone_helptext")).to_contain_text("配额重置时间")
        page.locator("section[aria-labelledby=look-heading]").screenshot(
            path=str(shots / "zh-hans-time-zone-desktop-dark.png")
        )
    finally:
        close_page(page, app)
