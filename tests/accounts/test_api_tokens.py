"""Personal access tokens: their format, what a check refuses, scopes, allowlists, the
token's own hourly limit, and that only a hash is stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import api_tokens
from accounts.models import ApiToken
from catalog import clock, quotas
from catalog.models import Quota
from realtime.codes import ProtocolError

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 14, 10, 30, tzinfo=dt.UTC)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as frozen:
        yield frozen


def issue(user: Any, **fields: Any) -> api_tokens.Issued:
    fields.setdefault("name", "laptop")
    fields.setdefault("scopes", ["chat"])
    return api_tokens.create(user=user, **fields)


def refusal(raw: str | None) -> str:
    with pytest.raises(ProtocolError) as info:
        api_tokens.authenticate(raw)
    return info.value.code


def test_a_token_has_the_prefix_the_length_and_a_checksum_that_holds():
    secret = api_tokens.generate()
    assert secret.startswith("cwp_")
    assert len(secret) == api_tokens.LENGTH == 53
    assert api_tokens.well_formed(secret)
    assert api_tokens.generate() != secret


def test_a_mistyped_token_fails_its_checksum_before_any_query():
    secret = api_tokens.generate()
    last = secret[-1]
    mistyped = secret[:-1] + ("a" if last != "a" else "b")
    with CaptureQueriesContext(connection) as queries:
        for raw in (mistyped, secret[:-1], "sk-" + secret[3:], secret + "x", "", None):
            assert refusal(raw) == "invalid_api_key"
    assert len(queries) == 0


def test_only_the_hash_is_stored_and_the_secret_authenticates(alice, frozen):
    issued = issue(alice)
    row = ApiToken.objects.get()
    assert issued.secret not in str(list(ApiToken.objects.values()))
    assert row.key_hash == api_tokens.digest(issued.secret)
    assert row.prefix == issued.secret[:12]
    assert row.public_id.startswith("tok_")
    assert row.expires_at == NOW + dt.timedelta(days=90)
    token = api_tokens.authenticate(issued.secret, address="10.0.0.7")
    assert token.pk == row.pk
    assert token.user == alice
    row.refresh_from_db()
    assert (row.last_used_at, row.last_used_ip) == (NOW, "10.0.0.7")


def test_a_well_formed_token_that_does_not_exist_is_refused(alice):
    issue(alice)
    assert refusal(api_tokens.generate()) == "invalid_api_key"


def test_expired_revoked_and_deactivated_owners_tokens_stop_at_once(alice, bob, frozen):
    expiring = issue(alice, days=1)
    frozen.set(NOW + dt.timedelta(days=1))
    assert refusal(expiring.secret) == "token_expired"

    revoked = issue(alice)
    api_tokens.authenticate(revoked.secret)
    assert api_tokens.revoke(revoked.token, by=bob)
    assert not api_tokens.revoke(revoked.token, by=bob)
    assert refusal(revoked.secret) == "token_revoked"
    row = ApiToken.objects.get(pk=revoked.token.pk)  # kept for audit
    assert row.revoked_by == bob
    assert row.revoked_at == NOW + dt.timedelta(days=1)

    owned = issue(alice)
    api_tokens.authenticate(owned.secret)
    alice.is_active = False
    alice.save()
    assert refusal(owned.secret) == "account_inactive"


def test_last_used_is_written_at_most_once_a_minute_under_a_hundred_calls(alice, frozen):
    issued = issue(alice)
    updates = []
    with CaptureQueriesContext(connection) as queries:
        for second in range(100):
            frozen.set(NOW + dt.timedelta(seconds=second // 2))  # 50 seconds
            api_tokens.authenticate(issued.secret)
        updates = [q for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    frozen.set(NOW + dt.timedelta(seconds=61))
    api_tokens.authenticate(issued.secret)
    assert ApiToken.objects.get().last_used_at == NOW + dt.timedelta(seconds=61)


def test_two_copies_of_a_token_write_last_used_once_in_a_minute(alice, frozen):
    """Two instances with the same stale row: the conditional UPDATE lets one through."""
    issued = issue(alice)
    first = api_tokens.authenticate(issued.secret)
    second = ApiToken.objects.get(pk=first.pk)
    second.last_used_at = None  # as read before the first instance's write
    frozen.set(NOW + dt.timedelta(seconds=10))
    api_tokens.touch(second, address="10.0.0.9", now=clock.now())
    row = ApiToken.objects.get()
    assert row.last_used_at == NOW
    assert row.last_used_ip is None


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "100"),
        ({"scopes": []}, "scope"),
        ({"scopes": ["chat", "admin"]}, "scope"),
        ({"scopes": "chat"}, "scope"),
        ({"days": 0}, "days"),
        ({"days": 366}, "365"),
        ({"days": True}, "days"),
        ({"requests_per_hour": 0}, "at least 1"),
        ({"models_allowed": ["gpt-secret"]}, "gpt-secret"),
        ({"models_allowed": "fake-model"}, "list"),
    ],
)
def test_bad_token_settings_are_refused_and_nothing_is_made(alice, fields, words):
    with pytest.raises(ProtocolError) as info:
        issue(alice, **fields)
    assert info.value.code == "invalid_token_settings"
    assert info.value.status == 400
    assert words in info.value.message
    assert not ApiToken.objects.exists()


def test_the_longest_life_is_a_setting(alice, settings):
    settings.API_TOKEN_MAX_DAYS = 30
    with pytest.raises(ProtocolError):
        issue(alice, days=31)
    assert issue(alice, days=30).token.pk


def test_scopes_and_the_model_allowlist(alice):
    token = issue(alice, scopes=["chat", "models:read"], models_allowed=["fake-model"]).token
    api_tokens.require_scope(token, "chat")
    with pytest.raises(ProtocolError) as info:
        api_tokens.require_scope(token, "conversations:write")
    assert info.value.code == "insufficient_scope"
    assert info.value.status == 403
    api_tokens.check_model(token, "fake-model")
    with pytest.raises(ProtocolError) as info:
        api_tokens.check_model(token, "fake-model-2")
    assert info.value.code == "model_not_allowed"
    assert api_tokens.visible_models(token, ["fake-model", "fake-model-2"]) == ["fake-model"]
    open_token = issue(alice).token
    assert api_tokens.visible_models(open_token, ["fake-model", "fake-model-2"]) == [
        "fake-model",
        "fake-model-2",
    ]


def test_the_headers_a_token_travels_in():
    assert api_tokens.from_headers("Bearer cwp_x", None) == "cwp_x"
    assert api_tokens.from_headers("bearer  cwp_x ", None) == "cwp_x"
    assert api_tokens.from_headers("Basic abc", "cwp_y") == "cwp_y"
    assert api_tokens.from_headers(None, "cwp_y") == "cwp_y"
    assert api_tokens.from_headers("Bearer ", None) is None
    assert api_tokens.from_headers(None, None) is None


def test_a_tokens_hourly_limit_only_lowers_its_owners(alice, frozen):
    Quota.objects.create(user=alice, requests_per_hour=5)
    token = issue(alice, requests_per_hour=2).token
    with api_tokens.limits_of(token):
        quotas.check(alice, live_answers=0)
        quotas.check(alice, live_answers=0)
        with pytest.raises(quotas.QuotaExceeded) as info:
            quotas.check(alice, live_answers=0)
    assert info.value.code == "rate_limited"
    assert info.value.limit == 2
    # The refused attempt counted on neither; the owner's own requests go on to 5.
    assert quotas.requests_this_hour(alice.pk) == 2
    for _ in range(3):
        quotas.check(alice, live_answers=0)
    with pytest.raises(quotas.QuotaExceeded) as info:
        quotas.check(alice, live_answers=0)
    assert info.value.limit == 5
    # A generous token does not raise the owner's limit.
    generous = issue(alice, requests_per_hour=100).token
    with api_tokens.limits_of(generous), pytest.raises(quotas.QuotaExceeded) as info:
        quotas.check(alice, live_answers=0)
    assert info.value.limit == 5


def test_admins_list_filter_and_revoke_tokens_but_never_see_the_hash(alice, bob, admin_client):
    kept = issue(alice, name="kept")
    gone = issue(bob, name="gone")
    page = admin_client.get("/admin/accounts/apitoken/?state=active")
    assert page.status_code == 200
    body = page.content.decode()
    assert "kept" in body
    assert "gone" in body
    assert kept.token.key_hash not in body
    assert kept.secret not in body
    response = admin_client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [gone.token.pk]},
        follow=True,
    )
    assert "1 token revoked." in response.content.decode()
    assert refusal(gone.secret) == "token_revoked"
    api_tokens.authenticate(kept.secret)
    revoked_page = admin_client.get("/admin/accounts/apitoken/?state=revoked").content.decode()
    assert "gone" in revoked_page
    assert ">kept<" not in revoked_page
    detail = admin_client.get(f"/admin/accounts/apitoken/{kept.token.pk}/change/").content.decode()
    assert kept.token.key_hash not in detail
    assert admin_client.get("/admin/accounts/apitoken/add/").status_code == 403
