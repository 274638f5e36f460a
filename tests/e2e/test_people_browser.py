"""People in a real browser (Debian's Chromium against a real daphne): settings that follow
the user to another device, the theme painted before any script runs, the composer and
Stop by keyboard alone, and axe-core's accessibility check (0 serious or critical
violations) on every page this work touches, in light and dark.

Screenshots of each page (desktop 1280x800 and phone 390x844, light and dark) are written
to E2E_SCREENSHOTS when it names a folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.servers import CHROMIUM, CHROMIUM_ARGS, Daphne, app_env, create_user, manage
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e

USERNAME, PASSWORD = "dora", "dora-e2e-password-7"
TIMEOUT_MS = 20_000
AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Light page background and dark page background (static/css/app.css --bg).
LIGHT_BG, DARK_BG = "rgb(255, 255, 255)", "rgb(33, 33, 33)"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(showcase=True) as server:
        yield server


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream, static_root: Path
) -> Iterator[Daphne]:
    data_dir = tmp_path_factory.mktemp("e2e-people")
    env = app_env(
        data_dir,
        static_root,
        OPENAI_API_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-e2e-secret-never-shown",
        OPENAI_API_MODEL="fake-model,fake-model-2",
        WHITENOISE_USE_FINDERS="true",
        DEBUG="false",
    )
    manage(env, "migrate", "--noinput", "-v", "0")
    create_user(env, USERNAME, PASSWORD)
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('root', password='root-e2e-password-7')",
    )
    server = Daphne(env, data_dir / "daphne.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is required for the e2e suite and is not at {CHROMIUM}.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(
    browser: Any,
    app: Daphne,
    *,
    username: str = USERNAME,
    password: str = PASSWORD,
    color_scheme: str = "light",
    viewport: dict[str, int] = DESKTOP,
    javascript: bool = True,
    errors: list[str] | None = None,
) -> Any:
    """A signed-in page in a context of its own (another device)."""
    context = browser.new_context(
        base_url=app.url,
        viewport=viewport,
        color_scheme=color_scheme,
        java_script_enabled=javascript,
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    if errors is not None:
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{app.url}/")
    return page


def save_settings(page: Any, **fields: str) -> None:
    page.goto("/settings/")
    for name, value in fields.items():
        locator = page.locator(f"[name={name}]")
        if locator.first.get_attribute("type") == "radio":
            page.check(f"[name={name}][value='{value}']")
        elif locator.evaluate("e => e.tagName") == "SELECT":
            locator.select_option(value)
        else:
            locator.fill(value)
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash")).to_have_text("Your settings are saved.")


def background(page: Any) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def test_settings_follow_the_user_to_another_device(browser: Any, app: Daphne) -> None:
    errors: list[str] = []
    laptop = new_page(browser, app, errors=errors)
    phone = new_page(browser, app, viewport=PHONE, errors=errors)
    try:
        save_settings(
            laptop,
            display_name="Dora Explorer",
            theme="dark",
            default_model="fake-model-2",
            system_prompt="Be brief.",
            temperature="0.4",
            top_p="0.8",
            send_key="ctrl-enter",
        )
        phone.goto("/")
        expect(phone.locator("html")).to_have_attribute("data-theme", "dark")
        assert background(phone) == DARK_BG
        expect(phone.locator("#model-select")).to_have_value("fake-model-2")
        expect(phone.locator("#composer-hint")).to_contain_text("Ctrl+Enter to send")
        phone.goto("/settings/")
        expect(phone.locator("#id_display_name")).to_have_value("Dora Explorer")
        expect(phone.locator("#id_system_prompt")).to_have_value("Be brief.")
        expect(phone.locator("#id_temperature")).to_have_value("0.4")
    finally:
        save_settings(
            laptop,
            display_name="",
            theme="system",
            default_model="",
            system_prompt="",
            temperature="",
            top_p="",
            send_key="enter",
        )
        laptop.context.close()
        phone.context.close()
    assert not errors, errors


@pytest.mark.parametrize(
    ("theme", "device", "expected"),
    [
        ("dark", "light", DARK_BG),
        ("light", "dark", LIGHT_BG),
        ("system", "dark", DARK_BG),
        ("system", "light", LIGHT_BG),
    ],
)
def test_the_theme_applies_before_any_script_runs(
    browser: Any, app: Daphne, theme: str, device: str, expected: str
) -> None:
    setter = new_page(browser, app)
    save_settings(setter, theme=theme)
    setter.context.close()
    # Scripts off: what shows is what the server's HTML and the stylesheet paint first.
    page = new_page(browser, app, color_scheme=device, javascript=False)
    try:
        for path in ("/", "/settings/"):
            page.goto(path, wait_until="commit")
            page.wait_for_load_state("domcontentloaded")
            assert background(page) == expected, (path, theme, device)
    finally:
        page.context.close()
        reset = new_page(browser, app)
        save_settings(reset, theme="system")
        reset.context.close()


def test_keyboard_alone_sends_and_stops(browser: Any, app: Daphne, upstream: FakeUpstream) -> None:
    errors: list[str] = []
    page = new_page(browser, app, errors=errors)
    try:
        page.goto("/")
        # On a desktop the message box has the focus from the start.
        expect(page.locator("#composer-text")).to_be_focused()
        # The skip link (the page's first stop) leads back to it.
        page.locator(".skip-link").focus()
        expect(page.locator(".skip-link")).to_be_visible()
        page.keyboard.press("Enter")
        expect(page.locator("#composer-text")).to_be_focused()
        page.keyboard.type("[[fake tokens=400 delay=0.03]] by keyboard")
        page.keyboard.press("Enter")
        page.wait_for_url("**/c/*/")
        stop = page.locator("#stop-btn")
        expect(stop).to_be_visible()
        page.locator("#composer-text").focus()
        for _ in range(6):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "stop-btn":
                break
        assert page.evaluate("document.activeElement.id") == "stop-btn"
        # The focused control shows it (the :focus-visible outline).
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        page.keyboard.press("Enter")
        expect(page.locator('.msg-assistant[data-status="stopped"]')).to_have_count(1)
        # Switching conversations: from "New chat", Tab reaches the list; Enter opens one.
        current = page.url
        page.goto("/")
        page.locator(".new-chat").focus()
        for _ in range(4):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('conv-link')"):
                break
        assert page.evaluate("document.activeElement.classList.contains('conv-link')")
        page.keyboard.press("Enter")
        page.wait_for_url("**/c/*/")
        assert page.url.startswith(f"{app.url}/c/")
        assert current.startswith(f"{app.url}/c/")
    finally:
        page.context.close()
    assert not errors, errors


def run_axe(page: Any) -> list[dict[str, Any]]:
    """axe-core (vendored) on the current page: the serious and critical violations."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: {type: "tag",
            values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}});
          return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + " :: " + n.failureSummary)}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_any_page(
    browser: Any, app: Daphne, scheme: str, upstream: FakeUpstream
) -> None:
    shots = os.environ.get("E2E_SCREENSHOTS")
    found: dict[str, Any] = {}
    admin = new_page(
        browser, app, username="root", password="root-e2e-password-7", color_scheme=scheme
    )
    try:
        admin.goto("/")
        admin.fill("#composer-text", "Show me what you can do")
        admin.keyboard.press("Enter")
        admin.wait_for_url("**/c/*/")
        expect(admin.locator('.msg-assistant[data-status="done"]')).to_have_count(1)
        expect(admin.locator(".msg-assistant table")).to_have_count(1)
        conversation = admin.url.removeprefix(app.url)
        pages = {
            "chat-new": "/",
            "chat-conversation": conversation,
            "settings": "/settings/",
        }
        for name, path in pages.items():
            for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                admin.set_viewport_size(viewport)
                admin.goto(path)
                admin.wait_for_load_state("networkidle")
                if label == "desktop":
                    found[name] = run_axe(admin)
                if shots:
                    Path(shots).mkdir(parents=True, exist_ok=True)
                    admin.screenshot(path=f"{shots}/{name}-{label}-{scheme}.png", full_page=True)
            admin.set_viewport_size(DESKTOP)
    finally:
        admin.context.close()
    anonymous = browser.new_context(base_url=app.url, viewport=DESKTOP, color_scheme=scheme)
    try:
        page = anonymous.new_page()
        for name, path in (("sign-in", "/accounts/login/"), ("signup-off", "/accounts/signup/")):
            for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                page.set_viewport_size(viewport)
                page.goto(path)
                if label == "desktop":
                    found[name] = run_axe(page)
                if shots:
                    page.screenshot(path=f"{shots}/{name}-{label}-{scheme}.png", full_page=True)
    finally:
        anonymous.close()
    serious = {name: v for name, v in found.items() if v}
    assert not serious, json.dumps(serious, indent=1)


def test_streaming_keeps_the_layout_still_and_autoscroll_yields_to_the_reader(
    browser: Any, app: Daphne, upstream: FakeUpstream
) -> None:
    errors: list[str] = []
    page = new_page(browser, app, errors=errors)
    try:
        # Layout shifts (not caused by input) are recorded from the first paint on.
        page.add_init_script(
            "window.__shifts = [];"
            "new PerformanceObserver(l => { for (const e of l.getEntries())"
            " if (!e.hadRecentInput) window.__shifts.push(e.value); })"
            ".observe({type: 'layout-shift', buffered: true});"
        )
        page.goto("/")
        page.fill("#composer-text", "[[fake tokens=600 delay=0.02]] a long one")
        page.keyboard.press("Enter")
        page.wait_for_url("**/c/*/")
        expect(page.locator("#stop-btn")).to_be_visible()
        page.wait_for_function(
            "() => document.querySelector('#thread').scrollHeight >"
            " document.querySelector('#thread').clientHeight + 200"
        )
        # Following the answer: the thread stays at the bottom as it grows.
        page.wait_for_timeout(500)
        at_bottom = (
            "(() => { const t = document.querySelector('#thread');"
            " return t.scrollHeight - t.scrollTop - t.clientHeight < 80; })()"
        )
        assert page.evaluate(at_bottom)
        # The reader scrolls up: the text keeps coming, the view stays where they are.
        page.locator("#thread").hover()
        page.mouse.wheel(0, -5000)
        page.wait_for_timeout(300)
        top = page.evaluate("document.querySelector('#thread').scrollTop")
        page.wait_for_timeout(800)
        assert page.evaluate("document.querySelector('#thread').scrollTop") == top
        assert not page.evaluate(at_bottom)
        shifts = page.evaluate("window.__shifts.reduce((a, b) => a + b, 0)")
        # "Good" cumulative layout shift is under 0.1.
        assert shifts < 0.1, shifts
        page.locator("#stop-btn").click()
        expect(page.locator('.msg-assistant[data-status="stopped"]')).to_have_count(1)
    finally:
        page.context.close()
    assert not errors, errors
