"""The HTTP APIs: /v1 (OpenAI-compatible) and /api/v1 (conversations), docs/api.md."""

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path, re_path
from django.utils.translation import gettext as _

from api import errors, openai_views
from api.v1 import api as conversation_api
from realtime.codes import ProtocolError


def no_such_endpoint(request: HttpRequest) -> HttpResponse:
    """A path under /api/v1/ that names nothing: the API's JSON 404, not the site's page."""
    return errors.response(
        ProtocolError("no_such_endpoint", _("There is no such API endpoint (docs/api.md)."))
    )


urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/models", openai_views.models, name="openai_models"),
    path("v1/models/<path:name>", openai_views.model, name="openai_model"),
    path("v1/chat/completions", openai_views.chat_completions, name="openai_chat_completions"),
    path("api/v1/", conversation_api.urls),
    re_path(r"^api/v1/", no_such_endpoint),
]
