"""Pages for finding and moving conversations: search, shared links (import/export live
in transfer_views). Typed function views; ownership through get_conversation_for_user."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from conversations import projects, sharing
from conversations import search as search_module
from conversations.actions import ActionError
from conversations.models import Project, SharedLink
from conversations.views import get_conversation_for_user

NOINDEX = "noindex, nofollow"


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """JSON for the sidebar's search box; a plain results page without JavaScript."""
    query = search_module.clean_query(request.GET.get("q", ""))
    # ?project=<id> keeps the search to one of the user's projects (#22).
    try:
        project = projects.project_for(request.user, request.GET.get("project"))
    except ActionError as exc:
        if _wants_json(request):
            return JsonResponse({"ok": False, "code": exc.code, "error": exc.message}, status=404)
        raise Http404(exc.message) from None
    hits = search_module.search(
        user=request.user, query=query, project_id=project.pk if project else None
    )
    if _wants_json(request):
        return JsonResponse({"query": query, "results": [h.as_json() for h in hits]})
    return render(
        request,
        "conversations/search.html",
        {
            "query": query,
            "hits": hits,
            "nav": "search",
            "project": project,
            "projects": Project.objects.for_user(request.user).only("pk", "name"),
        },
    )


@login_required
@require_POST
def share_create(request: HttpRequest, pk: int) -> HttpResponseBase:
    conversation = get_conversation_for_user(request, pk)
    try:
        link = sharing.share_conversation(conversation=conversation)
    except ActionError as exc:
        if _wants_json(request):
            return JsonResponse({"ok": False, "code": exc.code, "error": exc.message}, status=400)
        flash.error(request, exc.message)
        return redirect("conversation", pk=pk)
    url = request.build_absolute_uri(f"/s/{link.token}/")
    if _wants_json(request):
        return JsonResponse({"ok": True, "url": url, "token": link.token})
    flash.success(
        request, _("Anyone with this link can read the conversation: %(url)s") % {"url": url}
    )
    return redirect("shared_links")


@login_required
@require_POST
def share_revoke(request: HttpRequest, token: str) -> HttpResponseBase:
    if sharing.revoke_share(user=request.user, token=token):
        flash.success(request, _("The link is revoked: it no longer opens anything."))
    else:
        flash.error(request, _("No such link."))
    return redirect("shared_links")


@login_required
@require_GET
def shared_links(request: HttpRequest) -> HttpResponse:
    links = sharing.links_for_user(user=request.user)
    rows = [(link, request.build_absolute_uri(f"/s/{link.token}/")) for link in links]
    return render(request, "conversations/shared_links.html", {"rows": rows, "nav": "shared"})


@require_GET
def shared_view(request: HttpRequest, token: str) -> HttpResponse:
    """The public, read-only snapshot; no account needed, never indexed."""
    if len(token) > 64:
        raise Http404(_("No such link."))
    link = get_object_or_404(SharedLink, token=token)
    response = render(
        request,
        "conversations/shared.html",
        {"link": link, "messages": sharing.shared_messages(link=link)},
    )
    response["X-Robots-Tag"] = NOINDEX
    response["Referrer-Policy"] = "no-referrer"
    return response
