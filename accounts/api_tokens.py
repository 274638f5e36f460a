"""Personal access tokens for the API: made, recognised, checked and revoked here.

A token reads `cwp_` + 43 base62 characters (32 random bytes) + a 6-character base62
CRC-32 of what precedes it, like GitHub's tokens: a secret scanner recognises the
prefix, and a mistyped or truncated token fails its checksum before any database query.
Only its SHA-256 is stored (the secret has 256 bits of entropy: no salt or slow hash is
needed, and a lookup stays one indexed query).

Every check reads the token's row with its owner, so a revocation, an expiry or a
deactivated owner takes effect on the next request, on every instance. `last_used_at`
is written at most once a minute per token (one conditional UPDATE, whichever instance
wins), never per call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import string
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import ApiToken
from audit import record
from audit.models import Action
from catalog import clock, config, quotas
from realtime.codes import ProtocolError

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

PREFIX = "cwp_"
_ALPHABET = string.digits + string.ascii_letters
_BODY = 43  # 62**43 > 2**256
_CHECK = 6  # 62**6 > 2**32
LENGTH = len(PREFIX) + _BODY + _CHECK
DEFAULT_DAYS = 90
TOUCH_EVERY = dt.timedelta(minutes=1)
SCOPES = tuple(ApiToken.Scope.values)


def _base62(number: int, width: int) -> str:
    digits = []
    for _i in range(width):
        number, digit = divmod(number, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def _checksum(text: str) -> str:
    return _base62(zlib.crc32(text.encode()), _CHECK)


def generate() -> str:
    """A new secret (not stored anywhere: create() keeps its hash)."""
    head = PREFIX + _base62(int.from_bytes(secrets.token_bytes(32)), _BODY)
    return head + _checksum(head)


def well_formed(raw: str) -> bool:
    """The prefix, the length, the alphabet and the checksum: no database needed."""
    if len(raw) != LENGTH or not raw.startswith(PREFIX):
        return False
    body = raw[len(PREFIX) :]
    if not all(c in _ALPHABET for c in body):
        return False
    return secrets.compare_digest(_checksum(raw[:-_CHECK]), raw[-_CHECK:])


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def from_headers(authorization: str | None, api_key: str | None) -> str | None:
    """The token a request carries: `Authorization: Bearer …`, else `X-Api-Key` (for a
    proxy that consumes Authorization). Never a query string: URLs end up in logs."""
    if authorization:
        scheme, _sep, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if api_key and api_key.strip():
        return api_key.strip()
    return None


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    secret: str  # shown to its owner once, never stored


def create(
    *,
    user: AbstractBaseUser | AnonymousUser,
    name: object,
    scopes: object,
    days: object = DEFAULT_DAYS,
    models_allowed: object = (),
    requests_per_hour: object = None,
) -> Issued:
    """Validate and make a token for `user`; ProtocolError("invalid_token_settings") and
    nothing written otherwise. Callers make sure a session, not a token, asks for it."""

    def refuse(message: str) -> ProtocolError:
        return ProtocolError("invalid_token_settings", message)

    if not isinstance(name, str) or not name.strip():
        raise refuse(_("Give the token a name."))
    name = name.strip()
    if len(name) > 100:
        raise refuse(_("A token's name has at most 100 characters."))
    if (
        not isinstance(scopes, list | tuple)
        or not scopes
        or not all(isinstance(s, str) and s in SCOPES for s in scopes)
    ):
        raise refuse(
            _("Choose at least one scope among: %(scopes)s.") % {"scopes": ", ".join(SCOPES)}
        )
    max_days = settings.API_TOKEN_MAX_DAYS
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= max_days:
        raise refuse(_("A token lasts from 1 to %(days)s days.") % {"days": max_days})
    if requests_per_hour is not None and (
        isinstance(requests_per_hour, bool)
        or not isinstance(requests_per_hour, int)
        or requests_per_hour < 1
    ):
        raise refuse(_("Requests per hour is a whole number, at least 1 (or empty: no limit)."))
    if not isinstance(models_allowed, list | tuple) or not all(
        isinstance(m, str) for m in models_allowed
    ):
        raise refuse(_("The models allowed are a list of model names."))
    open_to_user = {choice.name for choice in config.models_for(user)}
    for model in models_allowed:
        if model not in open_to_user:
            raise refuse(_("%(model)s is not a model you may use.") % {"model": model})
    secret = generate()
    with transaction.atomic():
        token = _create(user, name, scopes, days, models_allowed, requests_per_hour, secret)
        record.record(
            Action.TOKEN_CREATE,
            actor=user,
            target=token,
            target_id=token.public_id,
            target_label=token.name,
            details={"scopes": token.scopes, "days": days},
        )
    return Issued(token, secret)


def _create(
    user: AbstractBaseUser | AnonymousUser,
    name: str,
    scopes: list[str] | tuple[str, ...],
    days: int,
    models_allowed: list[str] | tuple[str, ...],
    requests_per_hour: int | None,
    secret: str,
) -> ApiToken:
    return ApiToken.objects.create(
        user_id=int(user.pk or 0),
        name=name,
        public_id="tok_" + secrets.token_hex(8),
        prefix=secret[: len(PREFIX) + 8],
        key_hash=digest(secret),
        scopes=sorted(set(scopes)),
        models_allowed=sorted(set(models_allowed)),
        requests_per_hour=requests_per_hour,
        expires_at=clock.now() + dt.timedelta(days=days),
    )


def authenticate(raw: str | None, *, address: str | None = None) -> ApiToken:
    """The live token `raw` names, its owner loaded (`token.user`); ProtocolError with
    invalid_api_key, token_revoked, token_expired or account_inactive otherwise."""
    if not raw or not well_formed(raw):
        raise ProtocolError(
            "invalid_api_key",
            _("Send a valid API token: Authorization: Bearer cwp_… (or X-Api-Key)."),
        )
    # The owner's settings come joined: the caller's time zone (api.auth) costs no query.
    token = (
        ApiToken.objects.select_related("user", "user__chat_settings")
        .filter(key_hash=digest(raw))
        .first()
    )
    if token is None:
        raise ProtocolError("invalid_api_key", _("This API token does not exist."))
    if token.revoked_at is not None:
        raise ProtocolError("token_revoked", _("This API token was revoked."))
    now = clock.now()
    if token.expires_at <= now:
        raise ProtocolError("token_expired", _("This API token has expired."))
    if not token.user.is_active:
        raise ProtocolError("account_inactive", _("The account of this API token is disabled."))
    touch(token, address=address, now=now)
    return token


def touch(token: ApiToken, *, address: str | None, now: dt.datetime) -> None:
    """Record the use, at most once a minute per token across every instance."""
    since = now - TOUCH_EVERY
    if token.last_used_at is not None and token.last_used_at > since:
        return
    ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=since)).filter(
        pk=token.pk
    ).update(last_used_at=now, last_used_ip=address)
    token.last_used_at, token.last_used_ip = now, address


def require_scope(token: ApiToken, scope: str) -> None:
    assert scope in SCOPES, scope
    if scope not in token.scopes:
        raise ProtocolError(
            "insufficient_scope",
            _("This API token lacks the scope %(scope)s.") % {"scope": scope},
        )


def allows_model(token: ApiToken, model: str) -> bool:
    return not token.models_allowed or model in token.models_allowed


def check_model(token: ApiToken, model: str) -> None:
    """Refuse a model outside the token's allowlist (the owner's own check is separate:
    catalog.config.check_allowed)."""
    if not allows_model(token, model):
        raise ProtocolError(
            "model_not_allowed",
            _("This API token may use only: %(models)s.")
            % {"models": ", ".join(token.models_allowed)},
        )


def visible_models(token: ApiToken, names: Iterable[str]) -> list[str]:
    return [name for name in names if allows_model(token, name)]


def revoke(token: ApiToken, *, by: AbstractBaseUser | AnonymousUser | None) -> bool:
    """Revoke (soft: the row stays, for audit). False when it already was."""
    now = clock.now()
    with transaction.atomic():
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by_id=by.pk if by is not None else None
        )
        if changed:
            token.revoked_at = now
            record.record(
                Action.TOKEN_REVOKE,
                actor=by if by is not None and by.is_authenticated else None,
                target=token,
                target_id=token.public_id,
                target_label=token.name,
                details={"owner_id": token.user_id},
            )
    return bool(changed)


@contextmanager
def limits_of(token: ApiToken) -> Iterator[None]:
    """While inside, quota checks also count this token's own requests per hour (which
    can only lower the owner's: both limits apply)."""
    with quotas.extra_hourly_limit(f"token:{token.public_id}", token.requests_per_hour or 0):
        yield
