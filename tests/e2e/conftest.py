"""Fixtures of the browser suites: one Debian Chromium for the session, and per test module
a fake upstream and a real daphne on its own SQLite database (a copy of one migrated once
per session: e2e_database).

A module tunes its app with two module-level names: UPSTREAM_SHOWCASE = True (the fake
model's answers also show a table and math) and APP_ENV (extra environment for the app).
Every app has the user USERNAME and the superuser ADMIN (tests/e2e/browsing.py).

There is no skip: without Chromium these tests fail, so a missing browser is noticed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import (
    ADMIN,
    ADMIN_PASSWORD,
    TIMEOUT_MS,
    close_page,
    open_page,
    prepare_databases,
    start_app,
)
from tests.servers import CHROMIUM, CHROMIUM_ARGS, Daphne
from tests.upstream import FakeUpstream

# expect() waits as long as the pages' actions do (new_context's default timeout, which
# expect does not read: its own is 5 s). It returns as soon as its condition holds; the
# bound only matters on a busy machine (CI runs e2e beside the other suites).
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: E2E_SCREENSHOTS when set (to be looked at), else a temporary
    folder."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def _databases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return prepare_databases(tmp_path_factory.mktemp("e2e-databases"))


@pytest.fixture(scope="session")
def e2e_database(_databases: tuple[Path, Path]) -> Path:
    """A migrated SQLite database with USERNAME and ADMIN, made once per session: every
    app starts on a copy of it (start_app's database)."""
    return _databases[0]


@pytest.fixture(scope="session")
def fresh_database(_databases: tuple[Path, Path]) -> Path:
    """The same, with no account yet (a fresh install)."""
    return _databases[1]


@pytest.fixture(scope="module")
def upstream(request: pytest.FixtureRequest) -> Iterator[FakeUpstream]:
    with FakeUpstream(showcase=getattr(request.module, "UPSTREAM_SHOWCASE", False)) as server:
        yield server


@pytest.fixture(scope="module")
def app(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    upstream: FakeUpstream,
    static_root: Path,
    e2e_database: Path,
) -> Iterator[Daphne]:
    server = start_app(
        tmp_path_factory.mktemp("e2e-app"),
        static_root,
        database=e2e_database,
        OPENAI_API_BASE_URL=upstream.base_url,
        **getattr(request.module, "APP_ENV", {}),
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser: Any, app: Daphne) -> Iterator[Any]:
    """A page signed in as USERNAME (desktop size, clipboard allowed) on the home page, in a
    session the module's earlier page fixtures may have used (open_page's reuse_session);
    an uncaught script error or a CSP violation fails the test."""
    page = open_page(
        browser, app, permissions=["clipboard-read", "clipboard-write"], reuse_session=True
    )
    yield page
    close_page(page, app)


@pytest.fixture
def admin_page(browser: Any, app: Daphne) -> Iterator[Any]:
    """The same, signed in as the superuser ADMIN."""
    page = open_page(browser, app, username=ADMIN, password=ADMIN_PASSWORD, reuse_session=True)
    yield page
    close_page(page, app)
