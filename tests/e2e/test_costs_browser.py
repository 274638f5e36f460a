"""Costs in real Chromium: the user's usage page with its cost column and budget meter, and
the admin's usage dashboard (SVG charts, tables, CSV links). Desktop and phone, light and
dark, English and Simplified Chinese; axe finds nothing; screenshots to be looked at
(E2E_SCREENSHOTS keeps them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import ADMIN, ADMIN_PASSWORD, SIZES, close_page, open_page, run_axe
from tests.servers import Daphne, manage

pytestmark = pytest.mark.e2e

SEED = """
import datetime as dt
from decimal import Decimal
from django.contrib.auth import get_user_model
from catalog import clock, usage
from catalog.models import ChatModel, Provider, Quota
carol = get_user_model().objects.get(username="carol")
root = get_user_model().objects.get(username="root")
provider, _ = Provider.objects.get_or_create(name="Priced", base_url="http://127.0.0.1:9/v1")
for name, i, o in (("gpt-4o", "2.50", "10.00"), ("gpt-4o-mini", "0.15", "0.60")):
    ChatModel.objects.update_or_create(provider=provider, model_id=name, defaults={
        "name": name, "input_price": Decimal(i), "output_price": Decimal(o)})
Quota.objects.update_or_create(user=carol, defaults={"budget_per_month": Decimal("20.00")})
now = clock.now()
for day in range(12):
    for who in (carol, root):
        for model, prompt, completion in (("gpt-4o", 90_000 + day * 9_000, 20_000),
                                          ("gpt-4o-mini", 300_000, 80_000 + day * 4_000),
                                          ("fake-model", 4_000, 900)):
            if who is root and model == "gpt-4o-mini":
                continue
            with clock.frozen(now - dt.timedelta(days=day, hours=1)):
                usage.record(user_id=who.pk, username=who.username, provider="Priced",
                             model=model, kind="answer", outcome="done", prompt_tokens=prompt,
                             completion_tokens=completion, estimated=False)
"""


@pytest.fixture(scope="module")
def ledger(app: Daphne) -> None:
    manage(app.env, "shell", "-v", "0", "-c", SEED)


def fits(page: Any, size: str) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= SIZES[size]["width"], f"wider than the screen: {width}"


CASES = [
    (size, scheme, locale)
    for size in ("desktop", "phone")
    for scheme in ("light", "dark")
    for locale in ("en-US", "zh-CN")
]


@pytest.mark.parametrize(("size", "scheme", "locale"), CASES)
def test_the_usage_page_shows_cost_and_the_budget(
    browser: Any, app: Daphne, ledger: None, shots: Path, size: str, scheme: str, locale: str
) -> None:
    page = open_page(
        browser, app, viewport=SIZES[size], color_scheme=scheme, locale=locale,
        extra_http_headers={"Accept-Language": locale},
    )  # fmt: skip
    page.goto("/usage/")
    cost = "Cost (USD)" if locale == "en-US" else "费用"
    expect(page.locator(".usage-table thead")).to_contain_text(cost)
    expect(page.locator(".meters")).to_contain_text("/ 20.00 USD")
    fits(page, size)
    if size == "desktop" and scheme == "light":
        # axe's injected styles break the CSP themselves: the page's own errors first.
        assert page.errors == []
        assert run_axe(page) == []
        page.errors.clear()
    page.screenshot(path=str(shots / f"usage-cost-{size}-{scheme}-{locale}.png"), full_page=True)
    close_page(page, app)


@pytest.mark.parametrize(("size", "scheme", "locale"), CASES)
def test_the_admin_dashboard_draws_its_charts(
    browser: Any, app: Daphne, ledger: None, shots: Path, size: str, scheme: str, locale: str
) -> None:
    page = open_page(
        browser, app, username=ADMIN, password=ADMIN_PASSWORD, viewport=SIZES[size],
        color_scheme=scheme, locale=locale, extra_http_headers={"Accept-Language": locale},
    )  # fmt: skip
    page.goto("/admin/catalog/usagerecord/")
    link = "Dashboard" if locale == "en-US" else "仪表板"
    page.get_by_role("link", name=link).click()
    expect(page.locator('svg[role="img"]')).to_have_count(7)
    expect(page.locator("#table-model")).to_contain_text("gpt-4o-mini")
    if size == "desktop" and scheme == "light":
        # axe's injected styles break the CSP themselves: the page's own errors first.
        assert page.errors == []
        assert run_axe(page) == []
        page.errors.clear()
    page.screenshot(path=str(shots / f"dashboard-{size}-{scheme}-{locale}.png"), full_page=True)
    close_page(page, app)
