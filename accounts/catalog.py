"""Which models a user may choose: the one place to switch to the admin-managed catalog
(issue 9) once it lands; until then, the models configured in OPENAI_API_MODEL."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def models_for(user: AbstractBaseUser | AnonymousUser) -> list[str]:
    return list(settings.OPENAI_API_MODELS)
