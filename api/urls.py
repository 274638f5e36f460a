"""The HTTP APIs: /v1 (OpenAI-compatible) and /api/v1 (conversations), docs/api.md."""

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path, re_path
from django.utils.translation import gettext as _

from api import errors
from api.v1 import api as conversation_api
from realtime.codes import ProtocolError


def no_such_endpoint(request: HttpRequest) -> HttpResponse:
    """A path under /api/v1/ that names nothing: the API's JSON 404, not the site's page."""
    return errors.response(
        ProtocolError("no_such_endpoint", _("There is no such API endpoint (docs/api.md)."))
    )


urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/", conversation_api.urls),
    re_path(r"^api/v1/", no_such_endpoint),
]
