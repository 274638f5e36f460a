"""A live daphne for the /v1 tests, on its own SQLite database, with the fake upstream.

One server for the session, shared by the modules that test /v1 (each start is a few
seconds): the tokens and users the tests need are made once, in one `manage.py shell`
(their secrets come back as JSON), and the tests read the usage ledger straight from the
server's SQLite file. So that modules can share it, a test counts what it caused (rows,
upstream requests) from a `before`, and a token whose quota a test spends (limited,
carol, erin, frank) is used by that test alone.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Daphne, app_env, copy_database, manage
from tests.upstream import FakeUpstream

# Short, so a test can wait out several keep-alives quickly.
PING_SECONDS = 0.2

SETUP = """
import datetime as dt, json
from django.contrib.auth import get_user_model
from accounts import api_tokens
from accounts.models import ApiToken
from catalog.models import Quota
User = get_user_model()
alice = User.objects.get(username="alice")
carol = User.objects.create_user("carol", password="carol-password-1")
Quota.objects.create(user=carol, requests_per_hour=2)
dave = User.objects.create_user("dave", password="dave-password-1")
Quota.objects.create(user=dave, tokens_per_day=5)
erin = User.objects.create_user("erin", password="erin-password-1")
Quota.objects.create(user=erin, concurrent_answers=1)
frank = User.objects.create_user("frank", password="frank-password-1")
Quota.objects.create(user=frank, tokens_per_day=60)
gina = User.objects.create_user("gina", password="gina-password-1")
Quota.objects.create(user=gina, budget_per_month="0.50")
from catalog.models import UsageRecord
UsageRecord.objects.create(user=gina, username="gina", provider="environment",
    model="fake-model", kind="api", outcome="done", cost="0.50")
def make(user, name, **kw):
    kw.setdefault("scopes", ["chat", "models:read"])
    return api_tokens.create(user=user, name=name, **kw)
out = {}
for key, user, kw in [
    ("alice", alice, {}),
    ("models_only", alice, {"scopes": ["models:read"]}),
    ("chat_only", alice, {"scopes": ["chat"]}),
    ("allowlist", alice, {"models_allowed": ["fake-model-2"]}),
    ("limited", alice, {"requests_per_hour": 1}),
    ("expired", alice, {}),
    ("revoked", alice, {}),
    ("carol", carol, {}),
    ("dave", dave, {}),
    ("erin", erin, {}),
    ("frank", frank, {}),
    ("gina", gina, {}),
]:
    issued = make(user, key, **kw)
    out[key] = {"secret": issued.secret, "public_id": issued.token.public_id}
ApiToken.objects.filter(name="expired").update(expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
api_tokens.revoke(ApiToken.objects.get(name="revoked"), by=None)
print("TOKENS=" + json.dumps(out))
"""


@dataclass
class V1Server:
    daphne: Daphne
    tokens: dict[str, dict[str, str]]
    database: Path
    upstream: FakeUpstream

    @property
    def base_url(self) -> str:
        return self.daphne.url + "/v1"

    def secret(self, name: str) -> str:
        return self.tokens[name]["secret"]

    def public_id(self, name: str) -> str:
        return self.tokens[name]["public_id"]

    def usage_rows(self, name: str) -> list[dict[str, Any]]:
        """The ledger's rows of the token `name`, oldest first."""
        with sqlite3.connect(self.database, timeout=10) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT * FROM catalog_usagerecord WHERE api_token = ? ORDER BY id",
                (self.public_id(name),),
            ).fetchall()
        return [dict(row) for row in rows]

    def wait_for_rows(self, name: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.usage_rows(name)
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


@pytest.fixture(scope="session")
def v1(
    tmp_path_factory: pytest.TempPathFactory,
    alices_database: Path,
    fake_upstream_server: FakeUpstream,
) -> Iterator[V1Server]:
    data_dir = tmp_path_factory.mktemp("v1")
    copy_database(alices_database, data_dir)
    env = app_env(
        data_dir,
        OPENAI_API_BASE_URL=fake_upstream_server.base_url,
        OPENAI_API_MODEL="fake-model,fake-model-2",
        OPENAI_API_IMAGE_MODELS="fake-model",
        API_SSE_PING_SECONDS=str(PING_SECONDS),
        MAX_REQUEST_PER_HOUR="0",
        TIMEOUT_MS="10000",
    )
    output = manage(env, "shell", "-c", SETUP)
    tokens = json.loads(output.split("TOKENS=", 1)[1])
    daphne = Daphne(env, data_dir / "daphne.log")
    try:
        yield V1Server(daphne, tokens, data_dir / "db.sqlite3", fake_upstream_server)
    finally:
        daphne.stop()
