"""API tokens on the settings page in a real browser (Debian's Chromium against a real
daphne): make one, copy its secret from the copy box, see it gone after a reload, revoke
it; and the section's screenshots, desktop and phone, light and dark."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, close_page, open_page, run_axe
from tests.servers import Daphne, manage

pytestmark = pytest.mark.e2e

APP_ENV = {"OPENAI_API_MODEL": "fake-model,fake-model-2"}
SECRET = re.compile(r"^cwp_[0-9A-Za-z]{49}$")


def create_token(page: Any, name: str, *, scopes: tuple[str, ...] = ()) -> str:
    """Fills and posts the form; returns the secret the copy box shows."""
    page.goto("/settings/")
    page.fill("#id_token-name", name)
    for scope in scopes:
        page.check(f"[name='token-scopes'][value='{scope}']")
    page.get_by_role("button", name="Create token").click()
    box = page.locator("#new-token")
    expect(box).to_be_visible()
    expect(box).to_contain_text("it will not be shown again")
    return str(page.locator("#new-token-secret").text_content())


def test_a_token_is_made_copied_once_and_revoked(browser: Any, app: Daphne) -> None:
    page = open_page(browser, app, permissions=["clipboard-read", "clipboard-write"])
    try:
        secret = create_token(page, "laptop script")
        assert SECRET.match(secret)
        # The address is the settings page's again: a reload does not post the form.
        assert page.url.endswith("/settings/#api-tokens")
        page.get_by_role("button", name="Copy").click()
        expect(page.locator("#new-token-copy")).to_have_text("Copied!")
        assert page.evaluate("navigator.clipboard.readText()") == secret

        page.reload()
        expect(page.locator("#new-token")).to_have_count(0)
        assert secret not in page.content()
        row = page.locator(".token-row", has_text="laptop script")
        expect(row).to_have_class(re.compile(r"\btoken-active\b"))
        expect(row.locator(".token-prefix")).to_have_text(secret[:12] + "…")

        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Revoke").click()
        expect(page.locator(".flash")).to_contain_text("is revoked")
        row = page.locator(".token-row", has_text="laptop script")
        expect(row).to_have_class(re.compile(r"\btoken-revoked\b"))
        expect(row.locator(".token-state")).to_have_text("Revoked")
        expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
        # Dimmed, kept for audit.
        assert row.evaluate("e => getComputedStyle(e).color") != page.evaluate(
            "getComputedStyle(document.body).color"
        )
    finally:
        close_page(page, app)


def test_a_declined_confirmation_revokes_nothing(browser: Any, app: Daphne) -> None:
    page = open_page(browser, app)
    try:
        create_token(page, "Backup script")
        page.goto("/settings/")
        row = page.locator(".token-row", has_text="Backup script")
        page.once("dialog", lambda dialog: dialog.dismiss())
        row.get_by_role("button", name="Revoke").click()
        page.wait_for_load_state("load")
        expect(row).to_have_class(re.compile(r"\btoken-active\b"))
    finally:
        close_page(page, app)


# The screenshots' user: her tokens alone, of every state.
DORA, DORA_PASSWORD = "dora", "dora-e2e-password-7"
NEWEST = "Home assistant"


@pytest.fixture(scope="module")
def dora(app: Daphne) -> None:
    """Dora's tokens: one used from an address with an allowlist and a limit, one
    revoked, one expired."""
    manage(
        app.env,
        "shell",
        "-v",
        "0",
        "-c",
        "import datetime as dt; from django.contrib.auth import get_user_model; "
        "from accounts import api_tokens; from accounts.models import ApiToken; "
        "from catalog import clock; "
        f"u = get_user_model().objects.create_user({DORA!r}, password={DORA_PASSWORD!r}); "
        "gone = api_tokens.create(user=u, name='Trial', scopes=['usage:read'], days=7); "
        "ApiToken.objects.filter(pk=gone.token.pk).update("
        "expires_at=clock.now() - dt.timedelta(days=2)); "
        "old = api_tokens.create(user=u, name='Old notebook', scopes=['conversations:read']); "
        "api_tokens.revoke(old.token, by=u); "
        "used = api_tokens.create(user=u, name='CI deploy bot', "
        "scopes=['chat', 'models:read'], models_allowed=['fake-model'], "
        "requests_per_hour=120, days=365); "
        "api_tokens.authenticate(used.secret, address='198.51.100.23')",
    )


def forget_newest(app: Daphne) -> None:
    manage(
        app.env,
        "shell",
        "-v",
        "0",
        "-c",
        "from accounts.models import ApiToken; "
        f"ApiToken.objects.filter(user__username={DORA!r}, name={NEWEST!r}).delete()",
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(browser: Any, app: Daphne, dora: None, shots: Path, scheme: str) -> None:
    """The section just after making a token (the copy box above the list), on each size;
    on a desktop, axe-core's check of it."""
    for size, viewport in SIZES.items():
        forget_newest(app)
        page = open_page(
            browser,
            app,
            username=DORA,
            password=DORA_PASSWORD,
            reuse_session=True,
            viewport=viewport,
            color_scheme=scheme,
        )
        try:
            create_token(page, NEWEST, scopes=("usage:read",))
            widths = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], f"{size}: wider than the screen"
            if size == "desktop":
                assert run_axe(page) == []
            page.locator("#api-tokens").screenshot(path=str(shots / f"tokens-{size}-{scheme}.png"))
        finally:
            close_page(page, app)


def test_the_section_in_chinese(browser: Any, app: Daphne, dora: None, shots: Path) -> None:
    """In Simplified Chinese (the browser's language): the section's words, and its
    screenshot."""
    forget_newest(app)
    page = open_page(
        browser, app, username=DORA, password=DORA_PASSWORD, color_scheme="dark", locale="zh-CN"
    )
    try:
        page.goto("/settings/")
        page.fill("#id_token-name", NEWEST)
        page.get_by_role("button", name="创建令牌").click()
        expect(page.locator("#new-token")).to_contain_text("它不会再次显示")
        expect(page.locator("#tokens-heading")).to_have_text("API 令牌")
        expect(page.locator(".token-revoked .token-state")).to_have_text("已撤销")
        assert run_axe(page) == []
        page.locator("#api-tokens").screenshot(path=str(shots / "zh-hans-tokens-desktop-dark.png"))
    finally:
        close_page(page, app)
