"""Single sign-on's configuration: the OIDC_* variables checked at start (settings.py
reads them and calls configure()). accounts/sso.py signs people in with it."""

from __future__ import annotations

import dataclasses
import ipaddress
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

# The provider's endpoints that may be given instead of discovered from the issuer.
ENDPOINTS = ("authorization", "token", "userinfo", "jwks", "end_session")


@dataclasses.dataclass(frozen=True)
class SSOConfig:
    """One OpenID provider. Endpoints left empty are read from the issuer's discovery
    document (its /.well-known/openid-configuration) when first needed."""

    issuer: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    button_label: str = "SSO"
    create_users: bool = True
    groups_claim: str = ""
    sso_only: bool = False
    sign_algorithm: str = "RS256"
    timeout_seconds: float = 10.0
    endpoints: dict[str, str] = dataclasses.field(default_factory=dict)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(name: str, value: str) -> str:
    """An https URL (http only for a provider on this machine, as in the tests)."""
    parts = urlsplit(value)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise ImproperlyConfigured(f"{name} must be an https URL, got {value!r}.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ImproperlyConfigured(
            f"{name} must use https (plain http is accepted for localhost only)."
        )
    if parts.query or parts.fragment:
        raise ImproperlyConfigured(f"{name} must have no query or fragment.")
    return value


def configure(
    *,
    issuer: str,
    client_id: str,
    client_secret: str,
    scopes: str,
    button_label: str,
    create_users: bool,
    groups_claim: str,
    sso_only: bool,
    sign_algorithm: str,
    timeout_seconds: float,
    endpoints: dict[str, str],
) -> SSOConfig | None:
    """The checked configuration, or None when single sign-on is off (no OIDC_ISSUER)."""
    given = {name: url for name, url in endpoints.items() if url}
    if not issuer:
        if client_id or client_secret or given or sso_only:
            raise ImproperlyConfigured(
                "Single sign-on needs OIDC_ISSUER (the provider's issuer URL) besides "
                "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET."
            )
        return None
    check_url("OIDC_ISSUER", issuer.rstrip("/"))
    if not client_id or not client_secret:
        raise ImproperlyConfigured(
            "OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are needed too."
        )
    for name, url in given.items():
        check_url(f"OIDC_{name.upper()}_ENDPOINT", url)
    scope_list = tuple(dict.fromkeys(scopes.split()))
    if "openid" not in scope_list or "email" not in scope_list:
        raise ImproperlyConfigured("OIDC_SCOPES must include openid and email.")
    if sign_algorithm not in ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512"):
        raise ImproperlyConfigured(
            "OIDC_SIGN_ALGORITHM must be one of RS256, RS384, RS512, ES256, ES384, ES512."
        )
    if timeout_seconds <= 0:
        raise ImproperlyConfigured("OIDC_TIMEOUT_SECONDS must be a positive number of seconds.")
    label = button_label.strip()
    if not label or len(label) > 40:
        raise ImproperlyConfigured("OIDC_BUTTON_LABEL must be 1 to 40 characters.")
    if groups_claim != groups_claim.strip():
        raise ImproperlyConfigured("OIDC_GROUPS_CLAIM must be a claim's name, without spaces.")
    return SSOConfig(
        issuer=issuer.rstrip("/"),
        client_id=client_id,
        client_secret=client_secret,
        scopes=scope_list,
        button_label=label,
        create_users=create_users,
        groups_claim=groups_claim,
        sso_only=sso_only,
        sign_algorithm=sign_algorithm,
        timeout_seconds=timeout_seconds,
        endpoints=given,
    )


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_out_origins(config: SSOConfig | None) -> tuple[str, ...]:
    """Where the sign-out form may send the browser besides this site: the provider's
    end-session endpoint, on the issuer's origin or the one configured (chatweb/csp.py
    adds them to form-action, which Chromium applies to a form's redirects too)."""
    if config is None:
        return ()
    found = [origin(config.issuer)]
    if config.endpoints.get("end_session"):
        found.append(origin(config.endpoints["end_session"]))
    return tuple(dict.fromkeys(found))
