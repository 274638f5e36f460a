"""A real daphne serving /api/v1 on its own SQLite database, with a token for alice: one
for the session (api_server), shared by the modules that need the same one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import Daphne, app_env, copy_database, manage
from tests.upstream import FakeUpstream

MINT = (
    "from accounts import api_tokens; from django.contrib.auth import get_user_model; "
    "print(api_tokens.create(user=get_user_model().objects.get(username='alice'), "
    "name='live', scopes=['chat','models:read','conversations:read','conversations:write',"
    "'usage:read']).secret)"
)


@dataclass
class Live:
    server: Daphne
    token: str

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.server.url}/api/v1",
            headers={"Authorization": f"Bearer {self.token}", **headers},
            timeout=20,
        )


def mint_token(env: dict[str, str]) -> str:
    return manage(env, "shell", "-c", MINT).strip().splitlines()[-1]


def start(
    directory: Path, static_root: Path, alices_database: Path, upstream_url: str, **extra: str
) -> Live:
    env = app_env(directory, static_root, OPENAI_API_BASE_URL=upstream_url, **extra)
    copy_database(alices_database, directory)
    token = mint_token(env)
    return Live(Daphne(env, directory / "daphne.log"), token)


@pytest.fixture(scope="session")
def api_server(
    tmp_path_factory: pytest.TempPathFactory,
    static_root: Path,
    alices_database: Path,
    fake_upstream_server: FakeUpstream,
) -> Iterator[Live]:
    """/api/v1 live, for tests/api/test_events_live.py and test_schemathesis.py (a start is
    two Django starts, several seconds): pings every 0.3 s, so a test waits out several
    quickly. A test makes the conversations it reads; schemathesis' generated requests
    (after test_events_live.py's, in file order) may touch any of them."""
    started = start(
        tmp_path_factory.mktemp("api-live"),
        static_root,
        alices_database,
        fake_upstream_server.base_url,
        API_SSE_PING_SECONDS="0.3",
    )
    yield started
    started.server.stop()
