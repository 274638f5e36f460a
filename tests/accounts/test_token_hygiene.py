"""Token hygiene (issue #18): once a token is made through the settings page and used,
its plaintext is in no database table, no page, no log line and no export. Only its
display prefix (the first 12 characters) may be seen again; what follows is the secret
(TAIL below), searched for everywhere. That last-used is written at most once a minute
is tests/accounts/test_api_tokens.py's."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts import api_tokens
from accounts.models import ApiToken
from api import auth
from conversations import transfer
from conversations.models import Conversation, Message
from realtime.codes import ProtocolError

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"cwp_[0-9A-Za-z]{49}")


@dataclass(frozen=True)
class Made:
    secret: str
    token: ApiToken

    @property
    def tail(self) -> str:
        """The part of the secret never shown again (after the display prefix)."""
        return self.secret[len(self.token.prefix) :]

    def leaks(self, text: str) -> bool:
        return self.secret in text or self.tail in text


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG on every logger (those with a level of their own, such as httpx,
    included), and Django's SQL log on: each query is logged with its parameters."""
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG), CaptureQueriesContext(connection):
            yield caplog
    finally:
        for logger, level in levels:
            logger.setLevel(level)


def make_through_the_page(client: Client) -> Made:
    response = client.post(
        "/settings/tokens/",
        {"token-name": "laptop", "token-scopes": ["chat", "usage:read"], "token-days": "30"},
    )
    assert response.status_code == 201
    (secret,) = SECRET.findall(response.text)
    return Made(secret, ApiToken.objects.get(key_hash=api_tokens.digest(secret)))


def use(made: Made) -> None:
    """Authenticates with it as the API does: the header, the owner, last-used written."""
    request = RequestFactory().get(
        "/v1/models", HTTP_AUTHORIZATION=f"Bearer {made.secret}", REMOTE_ADDR="203.0.113.9"
    )
    caller = auth.authenticate(request)
    assert caller.token is not None
    assert caller.token.pk == made.token.pk
    request = RequestFactory().get("/v1/models", HTTP_X_API_KEY=made.secret)
    assert auth.authenticate(request).token == made.token


@pytest.fixture
def made(alice_client: Client) -> Made:
    made = make_through_the_page(alice_client)
    use(made)
    made.token.refresh_from_db()
    assert made.token.last_used_at is not None  # It was used: its row was written again.
    return made


def every_row() -> Iterator[tuple[str, tuple[Any, ...]]]:
    """(table, row) for every row of every table, read with raw SQL."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                yield table, row


def as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


def test_the_plaintext_is_in_no_table(made: Made, alice_client: Client) -> None:
    alice_client.get("/settings/")
    rows = list(every_row())
    tables = {table for table, _row in rows}
    assert {"accounts_apitoken", "django_session", "auth_user"} <= tables
    # The search can find: the token's row holds its prefix and hash.
    assert any(made.token.prefix in map(as_text, row) for _t, row in rows)
    assert any(api_tokens.digest(made.secret) in map(as_text, row) for _t, row in rows)
    leaking = [table for table, row in rows if any(made.leaks(as_text(v)) for v in row)]
    assert leaking == []


def test_the_plaintext_is_in_no_session(made: Made, alice_client: Client) -> None:
    """The session's row is signed and encoded: decoded, it holds no secret either."""
    alice_client.get("/settings/")
    sessions = [session.get_decoded() for session in Session.objects.all()]
    assert sessions  # alice's
    assert not any(made.leaks(json.dumps(data, default=str)) for data in sessions)
    assert not any(made.leaks(morsel.value) for morsel in alice_client.cookies.values())


def test_the_plaintext_is_on_no_page_after_the_one_that_made_it(
    made: Made, alice_client: Client, django_user_model: Any
) -> None:
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("root", password="root-pw-1"))
    pages = {
        "settings": alice_client.get("/settings/"),
        "admin list": admin.get("/admin/accounts/apitoken/"),
        "admin search": admin.get("/admin/accounts/apitoken/", {"q": made.token.prefix}),
        "admin detail": admin.get(f"/admin/accounts/apitoken/{made.token.pk}/change/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert made.token.prefix in response.text, name  # the token is on the page…
        assert not made.leaks(response.text), name  # …and its secret is not
        assert SECRET.findall(response.text) == [], name


def test_the_plaintext_is_in_no_log_line(
    alice_client: Client, every_log: pytest.LogCaptureFixture
) -> None:
    made = make_through_the_page(alice_client)
    use(made)
    alice_client.get("/settings/")
    # The secret with its last character changed (never to itself: a secret ending in
    # "x" stayed valid, 1 run in 60).
    changed = made.secret[:-1] + ("y" if made.secret.endswith("x") else "x")
    for refused in ("Bearer " + changed, "Bearer " + api_tokens.generate()):
        with pytest.raises(ProtocolError, match=r"API token|valid"):
            auth.authenticate(RequestFactory().get("/v1/models", HTTP_AUTHORIZATION=refused))
    revoked = alice_client.post(f"/settings/tokens/{made.token.public_id}/revoke/")
    assert revoked.status_code == 302
    with pytest.raises(ProtocolError, match="revoked"):
        use(made)
    alice_client.get("/settings/")

    records = every_log.records
    # The capture sees the token's own queries (the SQL log, with its parameters).
    assert any("accounts_apitoken" in record.getMessage() for record in records)
    assert any(api_tokens.digest(made.secret) in record.getMessage() for record in records)
    leaking = [record.getMessage()[:200] for record in records if made.leaks(record.getMessage())]
    assert leaking == []
    assert not made.leaks(every_log.text)


def test_the_plaintext_is_in_no_export(made: Made, alice_client: Client, alice: Any) -> None:
    conversation = Conversation.objects.create(user=alice, title="Scripts", model="fake-model")
    Message.objects.create(conversation=conversation, role="user", content="Which token?")

    document = json.dumps(transfer.export_user(user=alice), default=str)
    assert "Which token?" in document
    assert not made.leaks(document)
    for path in (
        "/export/",
        f"/c/{conversation.pk}/export.json",
    ):
        response = alice_client.get(path)
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        assert b"Which token?" in body, path
        assert not made.leaks(body.decode()), path
