"""The conversation API, /api/v1 (docs/api.md): django-ninja, async views, OpenAPI from the
type hints at /api/v1/openapi.json (committed as docs/openapi.json: `make openapi`).

Who calls: a personal access token (`Authorization: Bearer`, or `X-Api-Key`), bound by
its scopes and model allowlist, or the signed-in page's session (the page's SSE fallback,
the browsable docs), whose unsafe methods need the CSRF token (`X-CSRFToken`). Every
refusal is the OpenAI-shaped body of api/errors.py with a code of realtime/codes.py.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from api import auth, errors
from api.auth import Caller
from catalog.quotas import QuotaExceeded
from chatweb import csp
from realtime.codes import ProtocolError

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class TokenAuth(AuthBase):
    """`Authorization: Bearer cwp_…` (or `X-Api-Key: cwp_…`): a personal access token."""

    openapi_type = "http"
    openapi_scheme = "bearer"

    async def __call__(self, request: HttpRequest) -> Caller | None:
        if auth.token_of(request) is None:
            return None
        return await auth.aauthenticate(request)


class ApiKeyAuth(AuthBase):
    """The same token in `X-Api-Key`, for proxies that consume `Authorization` (TokenAuth
    reads both; this entry documents the header in the schema)."""

    openapi_type = "apiKey"
    openapi_in = "header"
    openapi_name = "X-Api-Key"

    async def __call__(self, request: HttpRequest) -> Caller | None:
        return None


class SessionAuth(AuthBase):
    """The signed-in page's session cookie; unsafe methods need `X-CSRFToken`."""

    openapi_type = "apiKey"
    openapi_in = "cookie"
    openapi_name = "sessionid"
    csrf = True  # the browsable docs send X-CSRFToken with their calls (ninja reads this)

    async def __call__(self, request: HttpRequest) -> Caller | None:
        user = await request.auser()
        if not user.is_authenticated or not user.is_active:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise ProtocolError(
                "csrf_failed", _("Send the page's CSRF token in the X-CSRFToken header.")
            )
        return Caller(user=user, token=None)


for scheme in (TokenAuth, ApiKeyAuth, SessionAuth):
    scheme.is_async = True


class SignedInSwagger(Swagger):
    """The browsable docs, for signed-in users only (the schema itself is public: it is
    committed in the repository)."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"/accounts/login/?next={request.path}")
        page = super().render_page(request, api, **kwargs)
        # Swagger UI's stylesheet draws its icons as data: images; this page shows no
        # model output, so it may load them (the site's policy otherwise, chatweb/csp.py).
        page[csp.HEADER] = csp.policy(request).replace("img-src ", "img-src data: ", 1)
        return page


api = NinjaAPI(
    title="Chatweb conversation API",
    version="1",
    description=(
        "Conversations, messages and answers streamed as resumable Server-Sent Events. "
        "Authenticate with a personal access token (Settings → API tokens): "
        "`Authorization: Bearer cwp_…`. See docs/api.md."
    ),
    urls_namespace="api_v1",
    auth=[TokenAuth(), ApiKeyAuth(), SessionAuth()],
    docs=SignedInSwagger(),
)


def caller_of(request: HttpRequest, scope: str | None = None) -> Caller:
    """The authenticated caller, refused (insufficient_scope) without `scope`."""
    caller: Caller = request.auth  # type: ignore[attr-defined]
    if scope is not None:
        caller.require(scope)
    return caller


def session_only(request: HttpRequest) -> Caller:
    """The caller when it is a signed-in session: a token cannot manage tokens."""
    caller = caller_of(request)
    if caller.token is not None:
        raise ProtocolError(
            "insufficient_scope",
            _("API tokens are managed by a signed-in session, never by a token."),
        )
    return caller


@api.exception_handler(ProtocolError)
def _refused(request: HttpRequest, exc: ProtocolError) -> HttpResponse:
    # A quota refusal reaches here as the action's ProtocolError; its QuotaExceeded (the
    # cause) knows when the quota resets: Retry-After and x-should-retry come from it.
    if isinstance(exc.__cause__, QuotaExceeded):
        return errors.response(exc.__cause__)
    return errors.response(exc)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return errors.response(
        ProtocolError(
            "invalid_api_key",
            _("Send an API token (Authorization: Bearer cwp_…, or X-Api-Key), or sign in."),
        )
    )


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    where = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    param = ".".join(where) or None
    message = _("Invalid request: %(detail)s") % {"detail": first.get("msg", "")}
    return errors.response(ProtocolError("invalid_request", message), param=param)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja's own refusals (a body that is not JSON, for one).
    return errors.response(ProtocolError("invalid_request", str(exc.message)))


def _register() -> None:
    # The routes import this module (caller_of, session_only): registered after it exists.
    from api import account, attachments, chat, conversations, projects, tokens

    api.add_router("", account.router)
    api.add_router("", attachments.router)
    assert chat.router is conversations.router  # the answers' operations are on it
    api.add_router("", conversations.router)
    api.add_router("", projects.router)
    api.add_router("", tokens.router)


_register()
