"""Single sign-on in real Chromium against a real OpenID provider (tests/oidc_provider,
its own process): the button, the provider's page, back to the chat page, sign-out
through the provider's end-session; SSO-only's sign-in page; the sign-in page's
screenshots (desktop and phone, light and dark, en and zh-Hans; E2E_SCREENSHOTS keeps
them to be looked at)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import SIZES, close_page, new_context, run_axe, start_app, watch
from tests.oidc_provider.server import OIDCProvider
from tests.servers import Daphne

pytestmark = pytest.mark.e2e

LOCALES = {"en": "en-US", "zh-hans": "zh-CN"}
BUTTON = {"en": "Sign in with Acme ID", "zh-hans": "使用 Acme ID 登录"}
USERS: dict[str, dict[str, object]] = {
    "hana": {"password": "hana-pw-1", "email": "hana@example.com", "groups": ["design"]},
}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    with OIDCProvider(tmp_path_factory.mktemp("oidc-provider"), USERS) as running:
        yield running


def _app(
    tmp: Path, static_root: Path, database: Path, provider: OIDCProvider, **env: str
) -> Daphne:
    variables: dict[str, Any] = provider.app_env(
        OIDC_BUTTON_LABEL="Acme ID", OIDC_GROUPS_CLAIM="groups", **env
    )
    return start_app(tmp, static_root, database=database, **variables)


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory,
    static_root: Path,
    e2e_database: Path,
    provider: OIDCProvider,
    upstream: Any,
) -> Iterator[Daphne]:
    server = _app(
        tmp_path_factory.mktemp("e2e-sso"), static_root, e2e_database, provider,
        OPENAI_API_BASE_URL=upstream.base_url,
    )  # fmt: skip
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sso_only_app(
    tmp_path_factory: pytest.TempPathFactory,
    static_root: Path,
    e2e_database: Path,
    provider: OIDCProvider,
) -> Iterator[Daphne]:
    server = _app(
        tmp_path_factory.mktemp("e2e-sso-only"), static_root, e2e_database, provider,
        OIDC_SSO_ONLY="true",
    )  # fmt: skip
    try:
        yield server
    finally:
        server.stop()


def test_the_whole_flow_from_the_button_to_the_chat_page_and_out(browser, app, provider):
    page = new_context(browser, app).new_page()
    watch(page)
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Acme ID").click()
    # The provider's own sign-in page, on its own origin.
    page.wait_for_url(f"{provider.url}/login/**")
    page.fill("#id_username", "hana")
    page.fill("#id_password", "hana-pw-1")
    page.click("#provider-sign-in")
    # Authorised (no consent screen for this client), back through the callback.
    page.wait_for_url(lambda url: url.startswith(app.url))
    assert page.url == f"{app.url}/", f"{page.url}\n{app.log_path.read_text()[-3000:]}"
    expect(page.locator("#composer-text")).to_be_visible()
    page.click("#account-button")
    page.get_by_role("menuitem", name="Sign out").click()
    # The provider's end-session sends the browser back to the sign-in page.
    page.wait_for_url(f"{app.url}/accounts/login/")
    page.goto("/")
    assert "/accounts/login/" in page.url  # The local session has ended.
    page.get_by_role("link", name="Sign in with Acme ID").click()
    # ... and the provider's: it asks for the password again.
    page.wait_for_url(f"{provider.url}/login/**")
    close_page(page, app)


def test_a_refusal_is_shown_on_the_sign_in_page(browser, app):
    page = new_context(browser, app).new_page()
    watch(page)
    page.goto("/accounts/sso/callback/?code=made-up&state=made-up")
    page.wait_for_url(f"{app.url}/accounts/login/")
    expect(page.get_by_role("status")).to_have_text(
        "The sign-in could not be verified. Please try again."
    )
    close_page(page, app)


def test_sso_only_hides_the_password_form(browser, sso_only_app, shots):
    page = new_context(browser, sso_only_app).new_page()
    watch(page)
    page.goto("/accounts/login/")
    expect(page.get_by_role("link", name="Sign in with Acme ID")).to_be_visible()
    expect(page.locator("#id_password")).to_have_count(0)
    page.screenshot(path=str(shots / "sso-only-desktop-light-en.png"), full_page=True)
    close_page(page, sso_only_app)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_sign_in_page_with_the_button(browser, app, shots, language):
    problems: list[str] = []
    for size, viewport in SIZES.items():
        for scheme in ("light", "dark"):
            context = new_context(
                browser, app, viewport=viewport, color_scheme=scheme, locale=LOCALES[language]
            )
            page = context.new_page()
            watch(page)
            page.goto("/accounts/login/")
            button = page.get_by_role("link", name=BUTTON[language])
            expect(button).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > viewport["width"]:
                problems.append(f"{size}/{scheme}: {width}px wide")
            if size == "desktop" and scheme == "light":
                problems += [f"axe: {v}" for v in run_axe(page)]
                button.focus()  # Reached by keyboard, as a link.
            page.screenshot(
                path=str(shots / f"sso-sign-in-{size}-{scheme}-{language}.png"), full_page=True
            )
            close_page(page, app)
    assert problems == []
