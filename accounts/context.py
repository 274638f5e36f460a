"""Template context for every page: the user's theme (rendered on <html> so it applies
before the first paint), display name and avatar."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from accounts.models import UserSettings, initials, settings_for


def preferences(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": UserSettings.Theme.SYSTEM}
    current = settings_for(user)
    name = current.display_name or user.get_username()
    avatar_url = reverse("avatar", args=[user.pk, current.avatar_version]) if current.avatar else ""
    return {
        "theme": current.theme,
        "user_settings": current,
        "display_name": name,
        "avatar_url": avatar_url,
        "avatar_initials": initials(name),
    }
