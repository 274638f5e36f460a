"""The admin in real Chromium: Chatweb's name on a landing page of today's figures, and
the "Test connection" button on a provider's own page (#20, item 8). Desktop and phone,
light and dark (and the landing page in Simplified Chinese); screenshots to be looked at
(E2E_SCREENSHOTS keeps them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import ADMIN, ADMIN_PASSWORD, SIZES, close_page, open_page, run_axe
from tests.servers import Daphne, manage

pytestmark = pytest.mark.e2e

APP_ENV = {"OPENAI_API_MODEL": "fake-model,fake-model-2"}

SEED = """
from django.contrib.auth import get_user_model
from catalog.models import Provider
from conversations.models import Conversation, Message
carol = get_user_model().objects.get(username="carol")
chat = Conversation.objects.create(user=carol, title="Seeded")
def answer(status, model, code=""):
    Message.objects.create(conversation=chat, role="assistant", status=status, model=model,
                           error_code=code)
for _ in range(5): answer("done", "fake-model")
for _ in range(2): answer("done", "fake-model-2")
answer("error", "fake-model", "upstream_rate_limited")
answer("error", "fake-model-2", "upstream_unreachable")
answer("stopped", "fake-model")
ok = Provider.objects.create(name="Local Ollama", base_url="{upstream}", timeout_seconds=5)
gone = Provider.objects.create(name="Old vLLM", base_url="http://127.0.0.1:9/v1", timeout_seconds=5)
Provider.objects.create(name="LM Studio", base_url="http://127.0.0.1:9/v1", enabled=False)
from catalog import probe
probe.check(gone)
print(ok.pk, gone.pk)
"""


@pytest.fixture(scope="module")
def providers(app: Daphne, upstream: Any) -> tuple[str, str]:
    out = manage(app.env, "shell", "-v", "0", "-c", SEED.replace("{upstream}", upstream.base_url))
    ok, gone = out.split()
    return ok, gone


def admin_in(browser: Any, app: Daphne, size: str, scheme: str, locale: str = "en-US") -> Any:
    return open_page(
        browser, app, username=ADMIN, password=ADMIN_PASSWORD,
        viewport=SIZES[size], color_scheme=scheme, locale=locale,
    )  # fmt: skip


def axe_finds_nothing(page: Any) -> None:
    """axe-core's check, after the page's own script errors and CSP violations are
    looked at: axe's injected styles break the policy themselves."""
    assert page.errors == []
    assert run_axe(page) == []
    page.errors.clear()


def fits(page: Any, size: str) -> None:
    # Against the screen's width, not innerWidth: a phone's browser widens its layout
    # viewport to fit a page that overflows.
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= SIZES[size]["width"], f"wider than the screen: {width}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_provider_pages_button_tests_the_connection(
    browser: Any, app: Daphne, providers: tuple[str, str], shots: Path, size: str, scheme: str
) -> None:
    ok, gone = providers
    page = admin_in(browser, app, size, scheme)
    page.goto(f"/admin/catalog/provider/{ok}/change/")
    expect(page.locator(".field-last_check")).to_contain_text(re.compile("Never checked|Worked: "))
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_url(f"**/admin/catalog/provider/{ok}/change/")
    expect(page.locator(".messagelist .success")).to_have_text(
        "Connected to Local Ollama: 3 models listed."
    )
    expect(page.locator(".field-last_check")).to_contain_text("Worked: ")
    fits(page, size)
    if size == "desktop":
        axe_finds_nothing(page)
    page.screenshot(path=str(shots / f"admin-provider-test-{size}-{scheme}.png"), full_page=True)

    page.goto(f"/admin/catalog/provider/{gone}/change/")
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_url(f"**/admin/catalog/provider/{gone}/change/")
    expect(page.locator(".messagelist .error")).to_contain_text(
        "Could not connect to Old vLLM (upstream_unreachable)"
    )
    page.screenshot(path=str(shots / f"admin-provider-failed-{size}-{scheme}.png"))
    close_page(page, app)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_admin_opens_on_todays_figures(
    browser: Any, app: Daphne, providers: tuple[str, str], shots: Path, size: str, scheme: str
) -> None:
    page = admin_in(browser, app, size, scheme)
    page.goto("/admin/")
    expect(page).to_have_title("Today and the site's settings | Chatweb admin")
    expect(page.locator("#site-name")).to_have_text("Chatweb administration")
    expect(page.locator("#site-name img")).to_be_visible()
    board = page.locator("#chatweb-dashboard")
    expect(board.locator(".dashboard-total td")).to_have_text("10")
    expect(board.locator("tr[data-status=done] td")).to_have_text("7")
    expect(board.locator("tr[data-code=upstream_rate_limited] td")).to_have_text("1")
    expect(board.locator(".dashboard-models tbody tr").first).to_have_attribute(
        "data-model", "fake-model"
    )
    expect(board.locator("tr[data-provider='Old vLLM'] td")).to_contain_text("Failed: ")
    expect(board.locator("tr[data-provider='Local Ollama'] td")).to_contain_text(
        re.compile("Never checked|Worked: ")
    )
    expect(board.locator("tr[data-provider='LM Studio'] td")).to_have_text("Never checked")
    # Above the apps' list.
    assert page.evaluate(
        "document.querySelector('#chatweb-dashboard').compareDocumentPosition("
        "document.querySelector('.app-catalog')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    fits(page, size)
    if size == "desktop":
        axe_finds_nothing(page)
    page.screenshot(path=str(shots / f"admin-index-{size}-{scheme}.png"), full_page=True)
    close_page(page, app)


def test_the_landing_page_in_simplified_chinese(
    browser: Any, app: Daphne, providers: tuple[str, str], shots: Path
) -> None:
    page = admin_in(browser, app, "desktop", "light", locale="zh-CN")
    page.goto("/admin/")
    expect(page.locator("#site-name")).to_have_text("Chatweb 管理")
    expect(page.locator("#dashboard-heading")).to_contain_text("今天")
    expect(page.locator(".dashboard-errors caption")).to_have_text("按错误代码统计")
    axe_finds_nothing(page)
    page.screenshot(path=str(shots / "admin-index-zh-hans-desktop-light.png"), full_page=True)
    close_page(page, app)


def test_the_admin_picks_the_site_default_and_a_new_chat_starts_with_it(
    browser: Any, app: Daphne, providers: tuple[str, str], shots: Path
) -> None:
    """The site settings page names a .env model as the site's default (#20, item 4); a
    user with no default of their own gets it in a new chat's picker. The page at both
    sizes in both schemes."""
    page = admin_in(browser, app, "desktop", "light")
    page.goto("/admin/")
    page.locator(".app-catalog").get_by_role("link", name="Site settings").click()
    page.wait_for_url("**/admin/catalog/sitesettings/1/change/")
    expect(page.locator(".field-in_use .readonly")).to_have_text(
        "fake-model, the first .env model: none is chosen."
    )
    page.select_option("#id_default_model", "fake-model-2")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_have_text(
        "Saved. New conversations start with fake-model-2."
    )
    expect(page.locator("#id_default_model")).to_have_value("fake-model-2")

    user = open_page(browser, app)
    user.goto("/")
    expect(user.locator("#model-select")).to_have_value("fake-model-2")
    close_page(user, app)

    axe_finds_nothing(page)
    for size in ("desktop", "phone"):
        for scheme in ("light", "dark"):
            page.set_viewport_size(SIZES[size])
            page.emulate_media(color_scheme=scheme)
            page.reload()
            fits(page, size)
            page.screenshot(
                path=str(shots / f"admin-site-default-{size}-{scheme}.png"), full_page=True
            )
    close_page(page, app)
