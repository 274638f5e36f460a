"""Which language a person reads: their own setting, else the switcher's cookie, else
the browser's Accept-Language, else English (settings.LANGUAGE_CODE).

Pages: LocaleMiddleware picks cookie / Accept-Language; UserLanguageMiddleware (after
authentication) overrides it with the signed-in user's stored setting. The socket has
no middleware, so the consumer asks `language_for_scope` and translates each frame it
sends at send time (`translation.override`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from django.utils.deprecation import MiddlewareMixin
from django.utils.translation import trans_real

from accounts.models import settings_for


def user_language(user: Any) -> str:
    """The language the user chose in their settings, or "" (none chosen / no setting)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    code = getattr(settings_for(user), "language", "") or ""
    return _supported(code)


def _supported(code: str) -> str:
    if not code:
        return ""
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return ""


def language_from_headers(cookies: dict[str, str], accept_language: str) -> str:
    """What LocaleMiddleware decides for an anonymous request: the cookie, else the header."""
    chosen = _supported(cookies.get(settings.LANGUAGE_COOKIE_NAME, ""))
    if chosen:
        return chosen
    for code, _quality in trans_real.parse_accept_lang_header(accept_language):
        if code == "*":
            break
        found = _supported(code)
        if found:
            return found
    return settings.LANGUAGE_CODE


def language_for_scope(scope: dict[str, Any], setting: str | None = None) -> str:
    """The language of a WebSocket's user: setting, else cookie, else Accept-Language.

    `setting`: the user's language setting when the caller read it already ("" for
    none); otherwise it is read here.
    """
    chosen = user_language(scope.get("user")) if setting is None else _supported(setting)
    if chosen:
        return chosen
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }
    cookies = scope.get("cookies") or {}
    return language_from_headers(cookies, headers.get("accept-language", ""))


class UserLanguageMiddleware(MiddlewareMixin):
    """A signed-in user's own language setting wins over the browser's (sync and async)."""

    def process_request(self, request: HttpRequest) -> None:
        chosen = user_language(getattr(request, "user", None))
        if chosen:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
