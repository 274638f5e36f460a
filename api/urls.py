"""The HTTP APIs: /v1 (OpenAI-compatible) and /api/v1 (conversations), docs/api.md."""

from django.urls import URLPattern, URLResolver, path

from api.v1 import api as conversation_api

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/", conversation_api.urls),
]
