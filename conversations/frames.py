"""The sandboxed page that draws mermaid diagrams for the chat (static/js/diagrams.js).

Mermaid's SVG needs inline styles, which the app's Content-Security-Policy forbids; the
diagram is therefore drawn in an <iframe sandbox="allow-scripts"> of this page, which has
its own narrow policy (chatweb.csp.diagram_frame_policy) and no access to the app.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from chatweb import csp


@require_GET
@xframe_options_sameorigin
def diagram_frame(request: HttpRequest) -> HttpResponse:
    response = render(request, "conversations/diagram_frame.html")
    response[csp.HEADER] = csp.diagram_frame_policy(request)
    return response
