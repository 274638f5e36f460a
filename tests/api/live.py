"""A real daphne serving /api/v1 on its own SQLite database, with a token for alice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers import Daphne, app_env, copy_database, manage

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
