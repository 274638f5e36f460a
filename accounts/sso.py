"""Single sign-on with OpenID Connect, on mozilla-django-oidc: the provider's endpoints
(given, or discovered from its issuer), the ID token's full check, and who the person is
here (an account linked by a verified email, made on first sign-in if allowed, its groups
those of the provider's groups claim).

The configuration is settings.SSO (chatweb/sso.py); with it None, nothing here runs.
Refusals are codes (Refused.code); accounts/sso_views.py turns them into sentences.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from catalog import clock
from chatweb.sso import SSOConfig, check_url, origin, sign_out_origins

log = logging.getLogger(__name__)

BACKEND = "accounts.sso.SSOBackend"
# Seconds of clock difference with the provider tolerated on a token's times.
LEEWAY = 60

# Refusal codes.
PROVIDER = "provider"  # the provider said no, or could not be reached
INVALID = "invalid"  # state, signature, issuer, audience, expiry or nonce wrong
NO_EMAIL = "no_email"
UNVERIFIED = "unverified"
UNKNOWN = "unknown"  # no account has this email, and accounts are not made here
AMBIGUOUS = "ambiguous"  # several accounts have this email
DISABLED = "disabled"


class Refused(Exception):
    """A sign-in through the provider refused; `code` says why (never a token)."""

    def __init__(self, code: str, detail: str = "", email: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code, self.detail, self.email = code, detail, email


def config() -> SSOConfig | None:
    sso: SSOConfig | None = settings.SSO
    return sso


# --- The provider's endpoints -------------------------------------------------------

# issuer -> its discovery document's endpoints, read once per process.
_discovered: dict[str, dict[str, str]] = {}
_DISCOVERY_FIELDS = {
    "authorization": "authorization_endpoint",
    "token": "token_endpoint",
    "userinfo": "userinfo_endpoint",
    "jwks": "jwks_uri",
    "end_session": "end_session_endpoint",
}


def endpoints(sso: SSOConfig) -> dict[str, str]:
    """The provider's endpoints: those configured, the others from the issuer's discovery
    document (read once per process; Refused(PROVIDER) if it cannot be)."""
    needed = {"authorization", "token", "userinfo", "jwks"}
    if needed <= sso.endpoints.keys():
        return sso.endpoints
    if sso.issuer not in _discovered:
        url = f"{sso.issuer}/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=sso.timeout_seconds)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise Refused(PROVIDER, f"discovery at {url}: {type(exc).__name__}") from None
        if not isinstance(document, dict) or document.get("issuer") != sso.issuer:
            raise Refused(PROVIDER, f"discovery at {url} names another issuer")
        found = {}
        for name, field in _DISCOVERY_FIELDS.items():
            value = document.get(field)
            if isinstance(value, str) and value:
                try:
                    found[name] = check_url(field, value)
                except ImproperlyConfigured:  # An insecure endpoint is not used.
                    raise Refused(PROVIDER, f"discovery: {field} is not https") from None
        if not needed <= found.keys():
            raise Refused(PROVIDER, f"discovery at {url} lacks endpoints")
        _discovered[sso.issuer] = found
    return {**_discovered[sso.issuer], **sso.endpoints}


def forget_discovery() -> None:
    """For tests: the next sign-in reads the discovery document again."""
    _discovered.clear()


def library_setting(attr: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, from settings.SSO instead of settings of its own."""
    sso = config()
    if sso is None:
        return import_from_settings(attr, *default)
    found = endpoints(sso) if attr.startswith("OIDC_OP_") else {}
    values: dict[str, Any] = {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": found.get("authorization"),
        "OIDC_OP_TOKEN_ENDPOINT": found.get("token"),
        "OIDC_OP_USER_ENDPOINT": found.get("userinfo"),
        "OIDC_OP_JWKS_ENDPOINT": found.get("jwks"),
        "OIDC_RP_CLIENT_ID": sso.client_id,
        "OIDC_RP_CLIENT_SECRET": sso.client_secret,
        "OIDC_RP_SIGN_ALGO": sso.sign_algorithm,
        "OIDC_RP_IDP_SIGN_KEY": None,
        "OIDC_RP_SCOPES": " ".join(sso.scopes),
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,
        "OIDC_TIMEOUT": sso.timeout_seconds,
        "OIDC_VERIFY_SSL": True,
        "OIDC_VERIFY_KID": True,
        "OIDC_PROXY": None,
        "OIDC_ALLOW_UNSECURED_JWT": False,
        "OIDC_TOKEN_USE_BASIC_AUTH": False,
        "OIDC_AUTHENTICATION_CALLBACK_URL": "sso_callback",
        "OIDC_REDIRECT_FIELD_NAME": "next",
        "OIDC_STORE_ACCESS_TOKEN": False,
        # Kept in the server-side session for the provider's sign-out (id_token_hint).
        "OIDC_STORE_ID_TOKEN": True,
        "OIDC_AUTH_REQUEST_EXTRA_PARAMS": {},
    }
    if attr in values:
        return values[attr]
    return import_from_settings(attr, *default)


# --- Who signs in ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Flow:
    """What the sign-in's start kept in the session for its callback."""

    nonce: str
    code_verifier: str | None


def _verified(claims: dict[str, Any]) -> bool:
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _group_names(sso: SSOConfig, claims: dict[str, Any]) -> list[str] | None:
    """The groups claim's names (None: no mapping configured)."""
    if not sso.groups_claim:
        return None
    raw = claims.get(sso.groups_claim, [])
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    names = {str(v).strip()[:150] for v in values if isinstance(v, str | int)}
    return sorted(name for name in names if name)


def _username_for(claims: dict[str, Any], email: str) -> str:
    """A free username like the provider's preferred_username, else the email's local part."""
    user_model = get_user_model()
    wanted = str(claims.get("preferred_username") or email.split("@", 1)[0])
    base = re.sub(r"[^\w.@+-]", "", wanted)[:140] or "user"
    name, n = base, 1
    while user_model.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


class SSOBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """The provider's sign-in. Also the session's backend after it: a session is read with
    ModelBackend's rules (a disabled account is signed out)."""

    get_settings = staticmethod(library_setting)
    # Its get_user is ModelBackend's: a socket may check a row read with its conversation
    # (accounts.sockets.SocketSignIn.user_from).
    get_user_is_model_backends = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django makes a backend for every session it reads: the provider's endpoints are
        # looked up only when someone signs in through it (authenticate).
        self.UserModel = get_user_model()

    def get_user(self, user_id: int) -> Any:
        return ModelBackend.get_user(self, user_id)

    def authenticate(
        self, request: HttpRequest | None, flow: Flow | None = None, **kwargs: Any
    ) -> Any:
        """The callback's code exchanged, the ID token checked, the account found or made.
        Raises Refused; a password sign-in (no flow) is not this backend's."""
        if request is None or flow is None or config() is None:
            return None
        self._load()
        try:
            return super().authenticate(request, nonce=flow.nonce, code_verifier=flow.code_verifier)
        except requests.RequestException as exc:
            # The library's HTTPError text holds the provider's answer: only its status
            # is kept (a client secret is never in it, nor the code).
            status = getattr(getattr(exc, "response", None), "status_code", "")
            raise Refused(PROVIDER, f"{type(exc).__name__} {status}".strip()) from None
        except SuspiciousOperation as exc:
            raise Refused(INVALID, str(exc)) from None

    def _load(self) -> None:
        """The library's attributes, from settings.SSO and the provider's endpoints."""
        sso = config()
        assert sso is not None
        found = endpoints(sso)
        self.OIDC_OP_TOKEN_ENDPOINT = found["token"]
        self.OIDC_OP_USER_ENDPOINT = found["userinfo"]
        self.OIDC_OP_JWKS_ENDPOINT = found["jwks"]
        self.OIDC_RP_CLIENT_ID = sso.client_id
        self.OIDC_RP_CLIENT_SECRET = sso.client_secret
        self.OIDC_RP_SIGN_ALGO = sso.sign_algorithm
        self.OIDC_RP_IDP_SIGN_KEY = None

    def verify_token_for(self, token: str, *, nonce: str) -> dict[str, Any]:
        """verify_token() of a backend not yet loaded (the tests' forged tokens)."""
        self._load()
        return self.verify_token(token, nonce=nonce)

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The ID token's signature (the provider's published key), issuer, audience,
        expiry (our clock) and nonce. SuspiciousOperation if any is wrong."""
        try:
            return super().verify_token(token, **kwargs)  # type: ignore[no-any-return]
        except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
            raise SuspiciousOperation(f"ID token refused: {type(exc).__name__}") from None

    def _verify_jws(self, payload: str, key: Any) -> dict[str, Any]:
        sso = config()
        assert sso is not None
        header = jwt.get_unverified_header(payload)
        if header.get("alg") != sso.sign_algorithm:
            raise SuspiciousOperation("ID token refused: its algorithm is not the one configured")
        claims: dict[str, Any] = jwt.decode(
            payload,
            key,
            algorithms=[sso.sign_algorithm],
            audience=sso.client_id,
            issuer=sso.issuer,
            # Expiry is checked below on the app's clock (tests move it).
            options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_exp": False},
        )
        now = clock.now().timestamp()
        if not isinstance(claims["exp"], int | float) or claims["exp"] + LEEWAY < now:
            raise SuspiciousOperation("ID token refused: expired")
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != sso.client_id:
            raise SuspiciousOperation("ID token refused: issued to another party (azp)")
        return claims

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        """The userinfo endpoint's claims over the ID token's; both name the same person."""
        info = super().get_userinfo(access_token, id_token, payload)
        if not isinstance(info, dict) or str(info.get("sub")) != str(payload.get("sub")):
            raise SuspiciousOperation("userinfo is about another subject")
        return {**payload, **info}

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        sso = config()
        assert sso is not None
        claims = self.get_userinfo(access_token, id_token, payload)
        email = str(claims.get("email") or "").strip()
        if not email:
            raise Refused(NO_EMAIL)
        if not _verified(claims):
            raise Refused(UNVERIFIED, email=email)
        with transaction.atomic():
            users = list(self.UserModel.objects.select_for_update().filter(email__iexact=email))
            if len(users) > 1:
                raise Refused(AMBIGUOUS, email=email)
            if users:
                user = users[0]
                if not user.is_active:
                    raise Refused(DISABLED, email=email)
            elif not sso.create_users:
                raise Refused(UNKNOWN, email=email)
            else:
                user = self.UserModel.objects.create_user(
                    _username_for(claims, email),
                    email=email,
                    first_name=str(claims.get("given_name") or "")[:150],
                    last_name=str(claims.get("family_name") or "")[:150],
                )
                user.set_unusable_password()
                user.save(update_fields=["password"])
            names = _group_names(sso, claims)
            if names is not None:
                groups = [Group.objects.get_or_create(name=name)[0] for name in names]
                user.groups.set(groups)
        return user


def end_session_url(request: HttpRequest, return_to: str) -> str | None:
    """Where to send the browser to end the provider's session too: its end_session
    endpoint, for a session signed in through it, if it has one."""
    sso = config()
    id_token = request.session.get("oidc_id_token")
    if sso is None or not id_token:
        return None
    try:
        url = endpoints(sso).get("end_session")
    except Refused:
        return None
    # Only where the sign-out form may go (the page's form-action, chatweb/csp.py).
    if not url or origin(url) not in sign_out_origins(sso):
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "client_id": sso.client_id,
            "post_logout_redirect_uri": return_to,
        }
    )
    return f"{url}{'&' if '?' in url else '?'}{query}"
