"""The audit log's admin list in real Chromium (issue 23, item 4): the admin's own sign-in
is on it, the filters narrow it (an action, then a date range typed with the keyboard),
the CSV link carries the filters, and nothing offers to change an entry. Desktop, light
and dark, English and Simplified Chinese; screenshots to be looked at (E2E_SCREENSHOTS)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import ADMIN, ADMIN_PASSWORD, SIZES, close_page, open_page, run_axe
from tests.servers import Daphne, manage

pytestmark = pytest.mark.e2e

SEED = """
from django.contrib.auth import get_user_model
from audit.models import Action
from audit.record import record
User = get_user_model()
root = User.objects.get(username="root")
dana = User.objects.create_user("dana", password="dana-password-1")
record(Action.SIGNIN_FAILED, actor=None, target_type="auth.user", target_label="dana",
       address="203.0.113.9", details={"username": "dana"})
record(Action.ADMIN_CHANGE, actor=root, target_type="catalog.provider", target_id=3,
       target_label="Local Ollama", address="198.51.100.4",
       details={"changed": ["API key", "Base URL"]})
record(Action.TOKEN_CREATE, actor=dana, target_type="accounts.apitoken",
       target_id="tok_0123456789abcdef", target_label="laptop", address="203.0.113.9",
       details={"scopes": ["chat"], "days": 30})
record(Action.DELETE_ALL, actor=dana, target=dana, address="203.0.113.9",
       details={"conversations": 12})
"""


@pytest.fixture(scope="module")
def seeded(app: Daphne) -> None:
    manage(app.env, "shell", "-v", "0", "-c", SEED)


def admin_in(browser: Any, app: Daphne, scheme: str, locale: str = "en-US") -> Any:
    return open_page(
        browser, app, username=ADMIN, password=ADMIN_PASSWORD,
        viewport=SIZES["desktop"], color_scheme=scheme, locale=locale,
    )  # fmt: skip


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_audit_list_filters_and_exports(
    browser: Any, app: Daphne, seeded: None, shots: Path, scheme: str
) -> None:
    page = admin_in(browser, app, scheme)
    page.goto("/admin/audit/auditevent/")
    rows = page.locator("#result_list tbody tr")
    expect(rows.filter(has_text="Sign-in failed")).to_have_count(1)
    expect(rows.filter(has_text="Signed in").filter(has_text=ADMIN).first).to_be_visible()
    expect(page.get_by_role("link", name="Add audit event")).to_have_count(0)
    expect(page.locator("select[name=action]")).to_have_count(0)  # no bulk actions
    assert page.errors == []
    assert run_axe(page) == []
    page.errors.clear()
    page.screenshot(path=str(shots / f"admin-audit-desktop-{scheme}.png"), full_page=True)

    page.locator("#changelist-filter").get_by_role("link", name="Changed in the admin").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Local Ollama")
    # The date range, from the keyboard: today to today keeps the entry.
    today = dt.date.today().isoformat()
    page.get_by_label("From", exact=True).fill(today)
    page.get_by_label("To", exact=True).fill(today)
    page.get_by_role("button", name="Apply dates").press("Enter")
    page.wait_for_url("**since=*")
    expect(rows).to_have_count(1)
    href = page.get_by_role("link", name="Export CSV (these filters)").get_attribute("href")
    assert href is not None
    assert "action__exact=admin.change" in href
    assert f"since={today}" in href
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV (these filters)").click()
    body = Path(download.value.path()).read_text()
    assert body.count("\n") == 2
    assert "Local Ollama" in body

    rows.first.locator("a").first.click()
    expect(page.locator("input[name=_save]")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)
    page.screenshot(path=str(shots / f"admin-audit-entry-desktop-{scheme}.png"), full_page=True)
    close_page(page, app)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_audit_list_in_simplified_chinese(
    browser: Any, app: Daphne, seeded: None, shots: Path, scheme: str
) -> None:
    page = admin_in(browser, app, scheme, locale="zh-CN")
    page.goto("/admin/audit/auditevent/")
    expect(page.locator("#changelist-filter")).to_contain_text("日期范围")
    expect(page.locator("#result_list")).to_contain_text("登录失败")
    export = "导出 CSV（按当前筛选）"  # noqa: RUF001
    expect(page.get_by_role("link", name=export)).to_be_visible()
    assert page.errors == []
    page.screenshot(path=str(shots / f"admin-audit-zh-hans-desktop-{scheme}.png"), full_page=True)
    close_page(page, app)
