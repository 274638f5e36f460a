"""The Content-Security-Policy sent with every response.

No inline script runs without this request's nonce (only the import map in
templates/base.html carries it); scripts, styles, fonts and images come from this
origin; the page talks to this origin and its WebSocket only; no page may frame it.
A model's markup that slipped past both sanitizers could still not run script, load a
remote image (unless ALLOW_REMOTE_IMAGES) or post a form elsewhere.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from chatweb import sso

HEADER = "Content-Security-Policy"


def nonce(request: HttpRequest) -> str:
    """This request's script nonce (made on first use)."""
    value: str | None = getattr(request, "_csp_nonce", None)
    if value is None:
        value = secrets.token_urlsafe(18)
        request._csp_nonce = value  # type: ignore[attr-defined]
    return value


def policy(request: HttpRequest) -> str:
    try:
        host = request.get_host()
    except DisallowedHost:
        sockets = ""
    else:
        # 'self' covers the page's own ws:/wss: in CSP3 browsers; named for older ones.
        sockets = f" ws://{host} wss://{host}"
    # blob: is the composer's preview of an image being uploaded (an object URL of the
    # local file, attach.js): only this page's own scripts can make one.
    images = "'self' blob: http: https:" if settings.ALLOW_REMOTE_IMAGES else "'self' blob:"
    # Signing out through the single sign-on provider redirects the sign-out form there.
    forms = " ".join(("'self'", *sso.sign_out_origins(settings.SSO)))
    directives = [
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce(request)}'",
        "style-src 'self'",
        f"img-src {images}",
        "font-src 'self'",
        f"connect-src 'self'{sockets}",
        "object-src 'none'",
        "base-uri 'self'",
        f"form-action {forms}",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Adds the policy to every response (MiddlewareMixin: sync and async alike)."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if HEADER not in response:
            response[HEADER] = policy(request)
        return response


def context(request: HttpRequest) -> dict[str, object]:
    """Template context: the nonce for the import map, and the image setting for render.js."""
    return {"csp_nonce": nonce(request), "allow_remote_images": settings.ALLOW_REMOTE_IMAGES}


def diagram_frame_policy(request: HttpRequest) -> str:
    """The policy of the sandboxed diagram frame (conversations/frames.py).

    Mermaid writes its SVG with a <style> element and style attributes, so this one page
    allows inline styles. It is safe to: the frame is sandboxed without same-origin (no
    cookies, no access to the app or its page), shows nothing but the diagram, may run
    only this origin's scripts, connect nowhere and be framed only by the app. The
    sandbox's origin is opaque, so the app's origin is also named explicitly.
    """
    origin = request.build_absolute_uri("/").rstrip("/")
    directives = [
        "default-src 'none'",
        f"script-src 'self' {origin}",
        f"style-src 'self' {origin} 'unsafe-inline'",
        f"img-src 'self' {origin} data:",
        f"font-src 'self' {origin}",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    ]
    return "; ".join(directives)
