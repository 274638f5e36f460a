"""What the browser suites share besides fixtures (those are in conftest.py): who signs
in, the two screen sizes, pages that record script errors and CSP violations, sign-in,
and axe-core's check."""

from __future__ import annotations

import functools
import weakref
from pathlib import Path
from typing import Any

from tests.servers import Daphne, app_env, copy_database, manage

TIMEOUT_MS = 20_000
USERNAME, PASSWORD = "carol", "carol-e2e-password-7"
ADMIN, ADMIN_PASSWORD = "root", "root-e2e-password-7"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe-core" / "axe.min.js"


def new_context(browser: Any, app: Daphne, **options: Any) -> Any:
    """A browser context of its own (another device) on the app; phone sizes are touch
    devices."""
    if options.get("viewport") == PHONE:
        options.setdefault("is_mobile", True)
        options.setdefault("has_touch", True)
    context = browser.new_context(base_url=app.url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def watch(page: Any) -> list[str]:
    """Records on page.errors every uncaught script error and every Content-Security-Policy
    violation (the app runs under a strict policy, chatweb/csp.py; the console reports
    what it blocks)."""
    errors: list[str] = []
    page.errors = errors
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return errors


def sign_in(page: Any, username: str = USERNAME, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form[action$='/login/'] button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


# Per app and user, the cookies of a session signed in through the login page: the page
# fixtures start from them instead of signing in again (each sign-in is the login page, a
# PBKDF2 hash the server makes on purpose slow, and a redirect: about a second here).
_SESSIONS: weakref.WeakKeyDictionary[Daphne, dict[str, list[Any]]] = weakref.WeakKeyDictionary()


def open_page(
    browser: Any,
    app: Daphne,
    *,
    username: str | None = USERNAME,
    password: str = PASSWORD,
    init_script: str | None = None,
    reuse_session: bool = False,
    **options: Any,
) -> Any:
    """A watched page in a new context, signed in unless username is None, on the home page.

    reuse_session: the new context gets the cookies of this user's last sign-in on this
    app (only them: no local storage), if that session is still signed in; otherwise it
    signs in through the login page as without it. For the page fixtures, whose tests are
    not about the session; another device of the same user (a test's own open_page) must
    sign in for real and leave it False.
    """
    options.setdefault("viewport", DESKTOP)
    context = new_context(browser, app, **options)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    watch(page)
    if username is None:
        return page
    sessions = _SESSIONS.setdefault(app, {})
    if reuse_session and username in sessions:
        context.add_cookies(sessions[username])
        page.goto("/")
        if "/accounts/login/" not in page.url:
            return page
    sign_in(page, username, password)
    sessions[username] = context.cookies()
    return page


def close_page(page: Any, app: Daphne, ignore: tuple[str, ...] = ()) -> None:
    """Closes the page's context; its script errors and CSP violations fail the test
    (those starting with one of ignore excepted)."""
    page.context.close()
    errors = [e for e in page.errors if not e.startswith(ignore)] if ignore else page.errors
    assert not errors, f"{errors}\n{app.log_path.read_text()[-3000:]}"


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def run_axe(page: Any) -> list[dict[str, Any]]:
    """axe-core (vendored) on the current page: its serious and critical violations.
    Injected once per page load (a page checked again, in its other colour scheme say,
    reuses it)."""
    if page.evaluate("typeof window.axe === 'undefined'"):
        page.evaluate(_axe_source())
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: {type: "tag",
            values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}});
          return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + " :: " + n.failureSummary)}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def share_token(page: Any) -> str:
    """Shares the conversation open in page (its menu's form, as the page's script posts
    it) and returns the link's token."""
    return str(
        page.evaluate(
            """async () => {
              const form = document.getElementById("share-form");
              const r = await fetch(form.action, {method: "POST",
                headers: {Accept: "application/json",
                  "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value}});
              return (await r.json()).token;
            }"""
        )
    )


def prepare_databases(directory: Path) -> tuple[Path, Path]:
    """Two migrated SQLite databases, made in one Django start: (with USERNAME and ADMIN,
    with no account). An app copies one (start_app's database) instead of migrating its
    own: migrate and the users' creation were two Django starts, ~4 s, per app."""
    empty, with_users = directory / "empty.sqlite3", directory / "users.sqlite3"
    env = app_env(directory)
    manage(
        env,
        "shell",
        "-c",
        "import shutil; from django.core.management import call_command; "
        "from django.db import connections; "
        "call_command('migrate', interactive=False, verbosity=0); "
        "connections.close_all(); "
        f"shutil.copyfile({env['DATABASE_URL'].removeprefix('sqlite:///')!r}, {str(empty)!r}); "
        "from django.contrib.auth import get_user_model; User = get_user_model(); "
        f"User.objects.create_user({USERNAME!r}, password={PASSWORD!r}); "
        f"User.objects.create_superuser({ADMIN!r}, password={ADMIN_PASSWORD!r}); "
        "connections.close_all(); "
        f"shutil.copyfile({env['DATABASE_URL'].removeprefix('sqlite:///')!r}, "
        f"{str(with_users)!r})",
    )
    return with_users, empty


def start_app(
    data_dir: Path,
    static_root: Path,
    *,
    users: bool = True,
    database: Path | None = None,
    **extra: str,
) -> Daphne:
    """daphne as in production (DEBUG off, collectstatic's hashed names, so the import map
    points at hashed modules; the finders serve anything collectstatic missed), on a copy
    of database (the e2e_database or fresh_database fixture) if given, else on a database
    migrated here, with USERNAME and ADMIN unless users is False."""
    env = app_env(
        data_dir,
        static_root,
        OPENAI_API_KEY="sk-e2e-secret-never-shown",
        WHITENOISE_USE_FINDERS="true",
        DEBUG="false",
        **extra,
    )
    if database is not None:
        copy_database(database, data_dir)
        return Daphne(env, data_dir / "daphne.log")
    manage(env, "migrate", "--noinput", "-v", "0")
    if users:
        manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; User = get_user_model(); "
            f"User.objects.create_user({USERNAME!r}, password={PASSWORD!r}); "
            f"User.objects.create_superuser({ADMIN!r}, password={ADMIN_PASSWORD!r})",
        )
    return Daphne(env, data_dir / "daphne.log")
