"""Single sign-on against a real OpenID provider (tests/oidc_provider, its own process):
the redirect flow driven over HTTP (the provider's pages with httpx, Chatweb's with the
test client), and ID tokens made with the provider's own key but wrong claims fed to the
verification. The browser's run of the same flow is tests/e2e/test_sso_browser.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import SuspiciousOperation
from django.test import Client

from accounts import sso
from catalog import clock, config
from catalog.models import ChatModel, Provider
from chatweb.sso import SSOConfig
from tests.oidc_provider.server import CLIENT_ID, CLIENT_SECRET, OIDCProvider

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

USERS: dict[str, dict[str, object]] = {
    "dana": {"password": "dana-pw-1", "email": "dana@example.com",
             "groups": ["engineering", "research"]},
    "erin": {"password": "erin-pw-1", "email": "erin@example.com"},
    "frank": {"password": "frank-pw-1", "email": "frank@example.com", "verified": False},
    "gina": {"password": "gina-pw-1", "email": "gina@example.com", "groups": ["engineering"]},
}  # fmt: skip


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    with OIDCProvider(tmp_path_factory.mktemp("oidc-provider"), USERS) as running:
        yield running


@pytest.fixture
def sso_on(settings: Any, provider: OIDCProvider) -> SSOConfig:
    settings.SSO = SSOConfig(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        groups_claim="groups",
        button_label="Acme ID",
        timeout_seconds=10,
    )
    sso.forget_discovery()
    return settings.SSO  # type: ignore[no-any-return]


def configure(settings: Any, **changes: Any) -> None:
    settings.SSO = dataclasses.replace(settings.SSO, **changes)


def provider_session(provider: OIDCProvider, username: str) -> httpx.Client:
    """A browser's cookies at the provider, signed in there as username."""
    browser = httpx.Client(base_url=provider.url, timeout=20, follow_redirects=False)
    page = browser.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    password = str(USERS[username]["password"])
    response = browser.post(
        "/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token[1],
              "next": "/login/"},
    )  # fmt: skip
    assert response.status_code == 302, response.text[:300]
    return browser


def sign_in(client: Client, provider: OIDCProvider, username: str) -> Any:
    """Chatweb's button, the provider (signed in as username), back to Chatweb's callback:
    the callback's response."""
    start = client.get("/accounts/sso/start/?next=/usage/")
    assert start.status_code == 302, start.content[:300]
    authorize = start["Location"]
    assert authorize.startswith(f"{provider.issuer}/authorize/")
    query = dict(httpx.URL(authorize).params)
    # Nonce and PKCE (S256) are on every request.
    assert query["code_challenge_method"] == "S256"
    assert query["nonce"]
    assert query["state"]
    browser = provider_session(provider, username)
    answer = browser.get(authorize)
    assert answer.status_code == 302, answer.text[:500]
    back = answer.headers["location"]
    assert back.startswith("http://testserver/accounts/sso/callback/"), back
    parts = urlsplit(back)
    client.provider_browser = browser  # type: ignore[attr-defined]
    return client.get(f"{parts.path}?{parts.query}")


def flashed(client: Client) -> str:
    page = client.get("/accounts/login/")
    return page.content.decode()


@pytest.fixture
def signals() -> Iterator[dict[str, list[Any]]]:
    seen: dict[str, list[Any]] = {"in": [], "failed": []}

    def logged_in(sender: Any, user: Any, **kwargs: Any) -> None:
        seen["in"].append(user)

    def failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
        seen["failed"].append(credentials)

    user_logged_in.connect(logged_in)
    user_login_failed.connect(failed)
    yield seen
    user_logged_in.disconnect(logged_in)
    user_login_failed.disconnect(failed)


def test_it_is_off_when_no_issuer_is_configured(client, alice):
    page = client.get("/accounts/login/")
    assert b"sso/start" not in page.content
    assert client.get("/accounts/sso/start/").status_code == 404
    assert client.get("/accounts/sso/callback/?code=x&state=y").status_code == 404


def test_the_sign_in_page_has_the_button(client, alice, sso_on):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Acme ID" in page
    assert 'id="id_password"' in page  # Not SSO-only: the password form stays.
    assert CLIENT_SECRET not in page


def test_first_sign_in_creates_the_user_and_maps_groups(
    client, alice, sso_on, provider, django_user_model, signals
):
    Group.objects.create(name="engineering")
    response = sign_in(client, provider, "dana")
    assert (response.status_code, response["Location"]) == (302, "/usage/")
    user = django_user_model.objects.get(email="dana@example.com")
    assert user.username == "dana"
    assert not user.has_usable_password()
    assert sorted(user.groups.values_list("name", flat=True)) == ["engineering", "research"]
    assert signals["in"] == [user]
    assert client.get("/usage/").status_code == 200  # Signed in.


def test_groups_follow_the_directory_at_each_sign_in_and_grants_follow(
    client, alice, sso_on, provider, django_user_model, fake_upstream
):
    dana = django_user_model.objects.create_user("dana.b", email="DANA@example.com")
    dana.groups.add(Group.objects.create(name="old-team"))
    ollama = Provider.objects.create(name="ollama", base_url=fake_upstream.base_url)
    secret_model = ChatModel.objects.create(
        provider=ollama, model_id="fake-model", name="research-only", context_window=4096
    )
    secret_model.groups.add(Group.objects.create(name="research"))
    assert "research-only" not in [m.name for m in config.models_for(dana)]

    sign_in(client, provider, "dana")

    dana = django_user_model.objects.get(pk=dana.pk)  # Linked by email, not made anew.
    assert django_user_model.objects.filter(email__iexact="dana@example.com").count() == 1
    assert sorted(dana.groups.values_list("name", flat=True)) == ["engineering", "research"]
    assert "research-only" in [m.name for m in config.models_for(dana)]


def test_existing_users_only_refuses_an_unknown_email(
    client, alice, sso_on, provider, settings, django_user_model, signals
):
    configure(settings, create_users=False)
    before = django_user_model.objects.count()
    response = sign_in(client, provider, "erin")
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/")
    assert "There is no account here for erin@example.com" in flashed(client)
    assert django_user_model.objects.count() == before
    assert signals["failed"] == [{"username": "erin@example.com", "method": "sso"}]
    assert client.get("/usage/").status_code == 302  # Not signed in.


def test_existing_users_only_signs_in_the_account_with_that_verified_email(
    client, alice, sso_on, provider, settings, django_user_model
):
    configure(settings, create_users=False, groups_claim="")
    erin = django_user_model.objects.create_user("erin-here", email="Erin@Example.com")
    erin.groups.add(Group.objects.create(name="kept"))
    response = sign_in(client, provider, "erin")
    assert response["Location"] == "/usage/"
    assert client.session["_auth_user_id"] == str(erin.pk)
    # No groups claim configured: the groups are left alone.
    assert list(erin.groups.values_list("name", flat=True)) == ["kept"]


def test_an_unverified_email_is_refused(client, alice, sso_on, provider, django_user_model):
    django_user_model.objects.create_user("frank", email="frank@example.com")
    response = sign_in(client, provider, "frank")
    assert response["Location"] == "/accounts/login/"
    assert "Your email address at Acme ID is not verified" in flashed(client)
    assert "_auth_user_id" not in client.session


def test_a_disabled_user_is_refused(client, alice, sso_on, provider, django_user_model):
    gina = django_user_model.objects.create_user("gina", email="gina@example.com", is_active=False)
    response = sign_in(client, provider, "gina")
    assert response["Location"] == "/accounts/login/"
    assert "This account is disabled." in flashed(client)
    assert "_auth_user_id" not in client.session
    assert not gina.groups.exists()  # Nothing written for a refused sign-in.


def test_a_replayed_callback_is_refused(client, alice, sso_on, provider):
    response = sign_in(client, provider, "erin")
    assert response["Location"] == "/usage/"
    callback = response.wsgi_request.get_full_path()
    client.post("/accounts/logout/")
    again = client.get(callback)
    assert again["Location"] == "/accounts/login/"
    assert "The sign-in could not be verified" in flashed(client)
    assert "_auth_user_id" not in client.session


def test_a_callback_from_another_browser_is_refused(client, alice, sso_on, provider):
    """A code and state made for one browser's sign-in, brought to another's session."""
    response = sign_in(client, provider, "erin")
    callback = response.wsgi_request.get_full_path()
    other = Client()
    assert other.get(callback)["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in other.session


def test_the_providers_error_is_shown_not_signed_in(client, alice, sso_on):
    start = client.get("/accounts/sso/start/")
    state = dict(httpx.URL(start["Location"]).params)["state"]
    response = client.get(f"/accounts/sso/callback/?error=access_denied&state={state}")
    assert response["Location"] == "/accounts/login/"
    assert "Acme ID did not complete the sign-in" in flashed(client)


def test_sign_out_ends_the_session_and_the_providers(client, alice, sso_on, provider):
    sign_in(client, provider, "erin")
    response = client.post("/accounts/logout/")
    end = response["Location"]
    assert end.startswith(f"{provider.issuer}/logout/?id_token_hint=")
    assert "_auth_user_id" not in client.session
    assert client.get("/usage/").status_code == 302
    # The provider ends its session and sends the browser back to the sign-in page.
    browser = client.provider_browser
    back = browser.get(end)
    assert back.status_code == 302, back.text[:500]
    assert back.headers["location"] == "http://testserver/accounts/login/"
    assert browser.get("/o/authorize/").status_code == 302
    assert "/login/" in browser.get("/o/authorize/?client_id=x").headers["location"]


def test_password_sign_out_is_unchanged(alice_client, sso_on):
    response = alice_client.post("/accounts/logout/")
    assert response["Location"] == "/accounts/login/"


def test_sso_only_hides_the_password_form_and_refuses_a_password(
    client, alice, sso_on, settings, django_user_model
):
    configure(settings, sso_only=True)
    settings.ALLOW_SIGNUP = True
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Acme ID" in page
    assert "id_password" not in page
    assert "/accounts/signup/" not in page
    refused = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert refused.status_code == 403
    assert "_auth_user_id" not in client.session
    assert client.get("/accounts/signup/").status_code == 404
    # Administrators keep the admin's password sign-in.
    django_user_model.objects.create_superuser("root", password="root-password-1")
    admin = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": "root-password-1"}
    )
    assert admin["Location"] == "/admin/"
    client.logout()
    # ... which refuses everyone else.
    other = client.post(
        "/admin/login/?next=/admin/", {"username": "alice", "password": "alice-password-1"}
    )
    assert other.status_code == 200
    assert "_auth_user_id" not in client.session


def test_no_secret_in_a_page_or_a_log_line(client, alice, sso_on, provider, caplog):
    caplog.set_level(logging.DEBUG)
    sign_in(client, provider, "frank")  # Refused: a warning is logged.
    sign_in(client, provider, "erin")
    page = client.get("/usage/").content.decode() + flashed(client)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Single sign-on refused: unverified" in logged
    for secret in (CLIENT_SECRET, "eyJ"):  # The client secret; any JWT.
        assert secret not in logged
        assert secret not in page
    assert "code_verifier" not in logged


# --- ID tokens with the provider's own key and wrong claims -----------------------------


def token(provider: OIDCProvider, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
    kid = httpx.get(f"{provider.issuer}/.well-known/jwks.json").json()["keys"][0]["kid"]
    now = int(time.time())
    body = {"iss": provider.issuer, "aud": CLIENT_ID, "sub": "7", "iat": now, "exp": now + 300,
            "nonce": "the-nonce", "email": "erin@example.com", **claims}  # fmt: skip
    body = {name: value for name, value in body.items() if value is not None}
    return jwt.encode(body, key or provider.private_key(), algorithm="RS256",
                      headers={"kid": kid})  # fmt: skip


def verify(raw: str, nonce: str = "the-nonce") -> dict[str, Any]:
    return sso.SSOBackend().verify_token_for(raw, nonce=nonce)


def test_a_token_with_the_right_claims_passes(sso_on, provider):
    assert verify(token(provider))["email"] == "erin@example.com"


def test_a_tampered_token_is_refused(sso_on, provider):
    header, payload, signature = token(provider).split(".")
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b"erin@", b"eve@@")
    ).decode()
    with pytest.raises(SuspiciousOperation):
        verify(f"{header}.{forged}.{signature}")


def test_a_token_signed_by_another_key_is_refused(sso_on, provider):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SuspiciousOperation):
        verify(token(provider, key=other))


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-client"},
        {"aud": ["another-client", CLIENT_ID]},  # Several audiences and no azp of ours.
        {"iss": "http://127.0.0.1:1/o"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"exp": None},
        {"nonce": "another-nonce"},
        {"nonce": None},
    ],
    ids=["audience", "audiences", "issuer", "expired", "no-expiry", "nonce", "no-nonce"],
)
def test_a_token_with_a_wrong_claim_is_refused(sso_on, provider, claims):
    with pytest.raises(SuspiciousOperation):
        verify(token(provider, **claims))


def test_expiry_is_read_on_the_apps_clock(sso_on, provider):
    real = dt.datetime.now(dt.UTC)
    old = token(provider, iat=int(real.timestamp()) - 7200, exp=int(real.timestamp()) - 3600)
    with clock.frozen(real - dt.timedelta(minutes=90)):
        assert verify(old)["email"] == "erin@example.com"
    with clock.frozen(real - dt.timedelta(minutes=58)), pytest.raises(SuspiciousOperation):
        verify(old)  # An hour past expiry, beyond the minute of leeway.
