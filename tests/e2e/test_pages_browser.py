"""Every page a user or an admin can reach, in English and Simplified Chinese, light and
dark, desktop and phone: a screenshot of each (to be looked at; E2E_SCREENSHOTS keeps
them), and on each the checks a screenshot cannot be trusted for.

Per page: the status, `<html lang>` in the browser's language, one string the page shows
in that language (from the app's own catalog: in zh-Hans it must differ from the English),
on a phone nothing wider than the screen, and on a desktop axe-core's check (0 serious or
critical violations). Every failure is collected, so one run lists them all.

The first-run page and sign-up when it is off are seen on a second app with no account.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from playwright.sync_api import expect

from tests.e2e.browsing import (
    ADMIN,
    ADMIN_PASSWORD,
    SIZES,
    TIMEOUT_MS,
    new_context,
    open_page,
    run_axe,
    share_token,
    sign_in,
    start_app,
    watch,
)
from tests.servers import Daphne, manage

pytestmark = pytest.mark.e2e

UPSTREAM_SHOWCASE = True
APP_ENV = {"ALLOW_SIGNUP": "true", "OPENAI_API_MODEL": "fake-model,fake-model-2"}
LOCALES = {"en": "en-US", "zh-hans": "zh-CN"}
DONE = ".msg-assistant[data-status=done]"


@dataclass(frozen=True)
class Site:
    conversation: str
    share: str
    provider: str
    fresh: Daphne


@dataclass(frozen=True)
class Visit:
    """One page: where, who, what it must say (an English msgid, shown translated), and
    what to do before the screenshot."""

    name: str
    path: str
    selector: str
    text: str
    who: str = "admin"  # "admin", "anonymous" or "fresh" (the app with no account)
    status: int = 200
    ready: Callable[[Any], None] | None = None
    sizes: tuple[str, ...] = ("desktop", "phone")


@pytest.fixture(scope="module")
def fresh_app(
    tmp_path_factory: pytest.TempPathFactory, static_root: Path, fresh_database: Path
) -> Iterator[Daphne]:
    """A fresh install: no account yet, sign-up off."""
    server = start_app(tmp_path_factory.mktemp("e2e-fresh"), static_root, database=fresh_database)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def site(browser: Any, app: Daphne, fresh_app: Daphne) -> Site:
    """The admin's data: a conversation with the showcase answer, a saved prompt, a share
    link, and a (disabled) provider for the admin's list of providers and its form."""
    provider = manage(
        app.env,
        "shell",
        "-v",
        "0",  # Only the printed id: no note of the shell's automatic imports.
        "-c",
        "from catalog.models import Provider; "
        "print(Provider.objects.create(name='Local vLLM', base_url='http://127.0.0.1:9/v1', "
        "enabled=False).pk)",
    ).strip()
    page = open_page(browser, app, username=ADMIN, password=ADMIN_PASSWORD)
    page.goto("/")
    page.fill("#composer-text", "Show me what Chatweb can do")
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*/")
    expect(page.locator(f"{DONE} table")).to_have_count(1, timeout=TIMEOUT_MS)
    conversation = page.url.removeprefix(app.url)
    page.goto("/prompts/")
    page.fill("#prompt-title", "Proofreader")
    page.fill("#prompt-text", "Proofread the following text.")
    page.click(".prompt-form button[type=submit]")
    expect(page.locator(".prompt-row")).to_have_count(1)
    page.goto(conversation)
    token = share_token(page)
    page.context.close()
    # A sign-in lock for the admin's list of them: five wrong passwords for someone.
    stranger = open_page(browser, app, username=None)
    for _ in range(5):
        stranger.goto("/accounts/login/")
        stranger.fill("#id_username", "mallory")
        stranger.fill("#id_password", "not-her-password")
        stranger.click("form[action$='/login/'] button[type=submit]")
        stranger.wait_for_load_state("load")
    stranger.context.close()
    return Site(
        conversation=conversation,
        share=f"/s/{token}/",
        provider=f"/admin/catalog/provider/{provider}/change/",
        fresh=fresh_app,
    )


def rich_answer(page: Any) -> None:
    answer = page.locator(".msg-assistant")
    expect(answer.locator("table")).to_have_count(1)
    expect(answer.locator(".katex").first).to_be_visible()
    expect(answer.locator(".codehilite").first).to_be_visible()
    # Math and code lay out after the first scroll to the bottom: the opened conversation
    # still ends at the bottom, with the ↓ button hidden (a share page has no thread).
    page.wait_for_function(
        "() => { const t = document.getElementById('thread');"
        " return !t || t.scrollHeight - t.scrollTop - t.clientHeight < 48; }"
    )
    expect(page.locator("#to-bottom")).to_be_hidden()


def drawer_open(page: Any) -> None:
    rich_answer(page)
    page.click("[data-drawer-toggle]")
    expect(page.locator("#sidebar")).to_be_visible()
    # The screenshot shows the drawer once it has slid in.
    page.evaluate("Promise.all(document.getAnimations().map(a => a.finished))")


def account_menu_open(page: Any) -> None:
    rich_answer(page)
    if page.locator("[data-drawer-toggle]").first.is_visible():
        drawer_open(page)
    page.click("#account-button")
    expect(page.get_by_role("menu")).to_be_visible()


def self_test_done(page: Any) -> None:
    for channel in ("websocket", "http"):
        verdict = page.locator(f'[data-channel="{channel}"] [data-verdict]')
        expect(verdict).not_to_have_attribute("data-state", "running", timeout=30_000)


def visits(site: Site) -> list[Visit]:
    admin_title = "#user-tools"
    return [
        Visit("sign-in", "/accounts/login/", "h1", "Welcome back", who="anonymous"),
        Visit("sign-up", "/accounts/signup/", "h1", "Create an account", who="anonymous"),
        Visit("setup", "/setup/", "h1", "Create the administrator account", who="fresh"),
        Visit("sign-up-off", "/accounts/signup/", "h1", "Sign-up is off", who="fresh", status=404),
        Visit(
            "shared",
            site.share,
            ".lib-note",
            "A shared conversation · read-only",
            who="anonymous",
            ready=rich_answer,
        ),
        Visit("not-found", "/no-such-page/", "h1", "Page not found", who="anonymous", status=404),
        Visit("chat-empty", "/", ".welcome h2", "How can I help you today?"),
        Visit("chat-answer", site.conversation, "#conv-heading", "Chats", ready=rich_answer),
        Visit(
            "chat-drawer",
            site.conversation,
            "#conv-heading",
            "Chats",
            ready=drawer_open,
            sizes=("phone",),
        ),
        Visit(
            "chat-account-menu",
            site.conversation,
            "#account-menu",
            "Sign out",
            ready=account_menu_open,
        ),
        Visit("settings", "/settings/", "h1", "Settings"),
        Visit("usage", "/usage/", "h1", "Your usage"),
        Visit("prompts", "/prompts/", "h1", "Prompt library"),
        Visit("search", "/search/?q=Chatweb", "h1", "Search your conversations"),
        Visit("import-export", "/import/", "h1", "Import and export"),
        Visit("shared-links", "/shared/", "h1", "Shared links"),
        Visit("not-found-signed-in", "/c/999999/", "h1", "Page not found", status=404),
        Visit(
            "self-test",
            "/admin-tools/diagnostics/",
            "#content h1",
            "Streaming self-test",
            ready=self_test_done,
        ),
        # Our apps, models, filters and sections are named in the page's language too.
        Visit("admin-index", "/admin/", "#content-main caption", "Models, usage and quotas"),
        Visit("admin-providers", "/admin/catalog/provider/", admin_title, "Welcome,"),
        Visit("admin-provider-change", site.provider, ".fieldset-heading", "Advanced"),
        Visit(
            "admin-conversations",
            "/admin/conversations/conversation/",
            "#changelist-filter",
            "use context",
        ),
        Visit("admin-usage", "/admin/catalog/usagerecord/", "#changelist-filter", "when"),
        Visit("admin-user-change", "/admin/auth/user/2/change/", admin_title, "Welcome,"),
        Visit("admin-sign-in-locks", "/admin/sign-in-locks/", "#sign-in-locks", "Lift"),
    ]


def translated(text: str, language: str) -> str:
    with translation.override(language):
        return translation.gettext(text)


def check(page: Any, visit: Visit, language: str, size: str, response: Any) -> list[str]:
    """What is wrong with the page as shown (nothing: [])."""
    problems = []
    if response is None or response.status != visit.status:
        problems.append(f"status {response and response.status}, not {visit.status}")
    lang = page.locator("html").get_attribute("lang")
    if lang != language:
        problems.append(f'<html lang="{lang}">')
    expected = translated(visit.text, language)
    if language != "en" and expected == visit.text:
        problems.append(f"{visit.text!r} has no {language} translation")
    shown = " ".join(page.locator(visit.selector).all_text_contents())
    if expected not in shown:
        problems.append(f"{visit.selector} shows {shown.strip()[:80]!r}, not {expected!r}")
    if size == "phone":
        widths = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            problems.append(f"wider than the screen: {widths[0]} > {widths[1]}")
    return problems


SCHEMES = ("light", "dark")
# The colours of a scheme switched on a shown page, once its transitions have ended.
TRANSITIONS_DONE = (
    "Promise.all(document.getAnimations()"
    ".filter((a) => a instanceof CSSTransition).map((a) => a.finished))"
)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_page_in_each_language_scheme_and_size(
    browser: Any, app: Daphne, site: Site, shots: Path, language: str
) -> None:
    """Each page is loaded once per size and seen in both schemes: the scheme is a media
    feature the stylesheets follow (app.css, library.css, the admin's), switched on the
    shown page, so only the checks that can differ between schemes (axe's, contrast
    included; the width) and the screenshot are repeated."""
    problems: dict[str, list[str]] = {}
    for size, viewport in SIZES.items():
        context = new_context(browser, app, viewport=viewport, locale=LOCALES[language])
        page = context.new_page()
        errors = watch(page)
        signed_in = False
        try:
            # The app with no account first: the main app's session cookie (same host)
            # means nothing there.
            for visit in sorted(visits(site), key=lambda v: v.who != "fresh"):
                if size not in visit.sizes:
                    continue
                if visit.who == "admin" and not signed_in:
                    sign_in(page, ADMIN, ADMIN_PASSWORD)
                    signed_in = True
                base = site.fresh.url if visit.who == "fresh" else app.url
                errors.clear()
                page.emulate_media(color_scheme=SCHEMES[0])
                response = page.goto(base + visit.path)
                if visit.ready:
                    visit.ready(page)
                page.wait_for_load_state("load")
                # The page's script errors and CSP violations (axe-core's own come later).
                found = check(page, visit, language, size, response) + errors
                for scheme in SCHEMES:
                    if scheme != SCHEMES[0]:
                        page.emulate_media(color_scheme=scheme)
                        page.evaluate(TRANSITIONS_DONE)
                        found = check(page, visit, language, size, response)
                    if size == "desktop":
                        found += [json.dumps(v, ensure_ascii=False) for v in run_axe(page)]
                    if found:
                        problems[f"{visit.name}-{size}-{scheme}"] = found
                    page.screenshot(
                        path=str(shots / f"page-{language}-{visit.name}-{size}-{scheme}.png"),
                        full_page=True,
                    )
        finally:
            context.close()
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)
    for scheme in SCHEMES:
        assert len(list(shots.glob(f"page-{language}-*-{scheme}.png"))) == sum(
            len(visit.sizes) for visit in visits(site)
        )
