"""The HTTP APIs: /v1 (OpenAI-compatible) and /api/v1 (conversations), docs/api.md."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
