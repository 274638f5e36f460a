"""The HTTP APIs: /v1 (OpenAI-compatible) and /api/v1 (conversations), docs/api.md."""

from django.urls import URLPattern, URLResolver, path

from api import openai_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/models", openai_views.models, name="openai_models"),
    path("v1/models/<path:name>", openai_views.model, name="openai_model"),
    path("v1/chat/completions", openai_views.chat_completions, name="openai_chat_completions"),
]
