"""Template context for every page: the user's theme (rendered on <html> so it applies
before the first paint), display name and avatar, and whether their time zone is unknown."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from accounts.models import UserSettings, initials, settings_for


def preferences(request: HttpRequest) -> dict[str, Any]:
    """Lazy: a page that shows none of these (a partial such as the sidebar's next page)
    costs no query for them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": UserSettings.Theme.SYSTEM}

    def current() -> UserSettings:
        return settings_for(user)

    def name() -> str:
        return current().display_name or user.get_username()

    def avatar_url() -> str:
        mine = current()
        return reverse("avatar", args=[user.pk, mine.avatar_version]) if mine.avatar else ""

    return {
        "theme": SimpleLazyObject(lambda: current().theme),
        "user_settings": SimpleLazyObject(current),
        "display_name": SimpleLazyObject(name),
        "avatar_url": SimpleLazyObject(avatar_url),
        "avatar_initials": SimpleLazyObject(lambda: initials(name())),
        # Until the user has a zone, each page asks the browser for its own (timezone.js).
        "time_zone_missing": SimpleLazyObject(lambda: not current().time_zone),
    }
