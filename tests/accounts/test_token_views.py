"""The settings page's API tokens: the list, making one (its secret shown once), refusals
that write nothing, revoking one's own and only one's own."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import api_tokens
from accounts.models import ApiToken
from catalog import clock
from realtime.codes import ProtocolError

pytestmark = pytest.mark.django_db

NEW = {
    "token-name": "laptop script",
    "token-scopes": ["chat", "models:read"],
    "token-days": "30",
    "token-models_allowed": ["fake-model-2"],
    "token-requests_per_hour": "50",
}
SECRET = re.compile(r"cwp_[0-9A-Za-z]{49}")


def secrets_in(html: str) -> list[str]:
    return SECRET.findall(html)


def test_the_settings_page_offers_a_token_form_with_chat_checked(alice_client, settings):
    settings.API_TOKEN_MAX_DAYS = 365
    html = alice_client.get("/settings/").text

    assert 'id="api-tokens"' in html
    assert "You have no API token yet." in html
    assert re.search(r'<input[^>]*value="chat"[^>]*checked', html)
    assert not re.search(r'<input[^>]*value="models:read"[^>]*checked', html)
    days = re.findall(r'<option value="(\d+)"( selected)?>', html)
    assert days == [("7", ""), ("30", ""), ("90", " selected"), ("365", "")]
    assert 'value="fake-model-2"' in html  # the allowlist offers the user's models


def test_the_expiries_offered_never_pass_the_maximum(alice_client, settings):
    settings.API_TOKEN_MAX_DAYS = 60
    html = alice_client.get("/settings/").text
    days = re.findall(r'<option value="(\d+)"( selected)?>', html)
    assert days == [("7", ""), ("30", ""), ("60", " selected")]


def test_creating_a_token_shows_its_secret_once_and_stores_only_its_hash(alice_client, alice):
    now = clock.now().replace(microsecond=0)
    with clock.frozen(now):
        response = alice_client.post("/settings/tokens/", NEW)

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    shown = secrets_in(response.text)
    assert len(shown) == 1
    secret = shown[0]
    assert "it will not be shown again" in response.text
    token = ApiToken.objects.get(user=alice)
    assert token.key_hash == api_tokens.digest(secret)
    assert (token.name, token.scopes) == ("laptop script", ["chat", "models:read"])
    assert token.models_allowed == ["fake-model-2"]
    assert token.requests_per_hour == 50
    assert token.expires_at == now + dt.timedelta(days=30)
    # It works, and the page lists it by its prefix.
    assert api_tokens.authenticate(secret).pk == token.pk
    assert f"{token.prefix}…" in response.text

    reloaded = alice_client.get("/settings/")
    assert secret not in reloaded.text
    assert secrets_in(reloaded.text) == []
    assert f"{token.prefix}…" in reloaded.text
    assert "laptop script" in reloaded.text
    # Nor does the session hold it (a later page could otherwise show it).
    assert secret not in str(dict(alice_client.session.items()))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("token-name", ""),
        ("token-name", "x" * 101),
        ("token-scopes", []),
        ("token-scopes", ["admin"]),
        ("token-days", "1000"),
        ("token-days", "0"),
        ("token-models_allowed", ["not-a-model"]),
        ("token-requests_per_hour", "0"),
        ("token-requests_per_hour", "lots"),
    ],
)
def test_bad_input_is_shown_beside_the_form_and_writes_nothing(alice_client, field, value):
    response = alice_client.post("/settings/tokens/", {**NEW, field: value})

    assert response.status_code == 400
    assert "field-error" in response.text or "form-errors" in response.text
    assert not ApiToken.objects.exists()
    assert secrets_in(response.text) == []
    # The field to correct has the focus (the form is below the list).
    assert re.search(rf'<[^>]*name="{field}"[^>]*autofocus', response.text)
    # What was typed is kept, to correct it.
    if field != "token-name":
        assert 'value="laptop script"' in response.text


def test_a_refusal_of_api_tokens_create_is_shown_as_the_forms_error(alice_client, settings):
    # The form offers the days the settings allow; the maximum lowered between the page
    # and the post: create() refuses, and its message is shown.
    settings.API_TOKEN_MAX_DAYS = 30
    response = alice_client.post("/settings/tokens/", {**NEW, "token-days": "30"})
    assert response.status_code == 201
    settings.API_TOKEN_MAX_DAYS = 7
    response = alice_client.post("/settings/tokens/", {**NEW, "token-days": "30"})
    assert response.status_code == 400
    assert ApiToken.objects.count() == 1


def test_the_list_shows_every_token_with_its_state(alice_client, alice):
    active = api_tokens.create(user=alice, name="active one", scopes=["chat"]).token
    revoked = api_tokens.create(user=alice, name="revoked one", scopes=["usage:read"]).token
    api_tokens.revoke(revoked, by=alice)
    expired = api_tokens.create(user=alice, name="expired one", scopes=["chat"], days=1).token
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=clock.now() - dt.timedelta(days=1))
    api_tokens.authenticate(
        api_tokens.create(user=alice, name="used", scopes=["chat"]).secret, address="192.0.2.7"
    )

    html = alice_client.get("/settings/").text

    rows = re.findall(
        r'<li class="token-row token-(\w+)">.*?class="token-name">([^<]*)<', html, re.DOTALL
    )
    assert sorted(rows) == sorted(
        [
            ("active", "active one"),
            ("revoked", "revoked one"),
            ("expired", "expired one"),
            ("active", "used"),
        ]
    )
    assert "192.0.2.7" in html
    assert "<code>usage:read</code>" in html
    # Only the active ones can be revoked.
    assert f"/settings/tokens/{active.public_id}/revoke/" in html
    assert f"/settings/tokens/{revoked.public_id}/revoke/" not in html
    assert f"/settings/tokens/{expired.public_id}/revoke/" not in html


def test_the_page_costs_the_same_queries_with_one_token_or_ten(alice_client, alice):
    api_tokens.create(user=alice, name="t0", scopes=["chat"])
    alice_client.get("/settings/")  # warm the catalog's snapshot
    with CaptureQueriesContext(connection) as one:
        alice_client.get("/settings/")
    for n in range(1, 10):
        api_tokens.create(user=alice, name=f"t{n}", scopes=["chat"])
    with CaptureQueriesContext(connection) as ten:
        alice_client.get("/settings/")
    assert len(ten) == len(one)


def test_revoking_a_token_keeps_its_row_and_stops_it(alice_client, alice):
    issued = api_tokens.create(user=alice, name="laptop", scopes=["chat"])

    response = alice_client.post(f"/settings/tokens/{issued.token.public_id}/revoke/")

    assert response.status_code == 302
    assert response["Location"] == "/settings/#api-tokens"
    row = ApiToken.objects.get()
    assert row.revoked_at is not None
    assert row.revoked_by == alice
    page = alice_client.get("/settings/").text
    assert "The token “laptop” is revoked" in page
    assert 'class="token-row token-revoked"' in page
    with pytest.raises(ProtocolError) as info:
        api_tokens.authenticate(issued.secret)
    assert info.value.code == "token_revoked"


def test_revoking_another_users_token_is_a_404_and_changes_nothing(alice_client, bob):
    theirs = api_tokens.create(user=bob, name="bob's", scopes=["chat"]).token

    response = alice_client.post(f"/settings/tokens/{theirs.public_id}/revoke/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoking_needs_a_post(alice_client, alice):
    token = api_tokens.create(user=alice, name="laptop", scopes=["chat"]).token
    assert alice_client.get(f"/settings/tokens/{token.public_id}/revoke/").status_code == 405
    assert alice_client.get("/settings/tokens/").status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_anonymous_visitors_are_sent_to_sign_in_and_nothing_is_made(client: Client, alice: Any):
    token = api_tokens.create(user=alice, name="laptop", scopes=["chat"]).token
    for path in ("/settings/tokens/", f"/settings/tokens/{token.public_id}/revoke/"):
        response = client.post(path, NEW)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert ApiToken.objects.count() == 1
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_forms_need_the_csrf_token(alice):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/settings/tokens/", NEW).status_code == 403
    assert not ApiToken.objects.exists()
