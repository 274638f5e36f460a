"""Pin and archive: the sidebar's order and what it leaves out, and the archive page."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from conversations import actions, organise
from conversations.models import Conversation
from conversations.views import get_conversation_for_user, sidebar_projects

ARCHIVE_PAGE = 50


def _back(request: HttpRequest, pk: int) -> HttpResponse:
    """Back to the page the form was on (`next`, this site only), else the conversation."""
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if safe and back.startswith("/"):
        return redirect(back)
    return redirect("conversation", pk=pk)


def _flagged(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    conversation = get_conversation_for_user(request, pk)
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        if field == "pinned":
            organise.set_pinned(conversation=conversation, pinned=request.POST.get(field))
        else:
            organise.set_archived(conversation=conversation, archived=request.POST.get(field))
    except actions.ActionError as exc:
        if wants_json:
            return JsonResponse(
                {"ok": False, "code": exc.code, "error": exc.message}, status=exc.status
            )
        return HttpResponse(exc.message, status=exc.status)
    if wants_json:
        return JsonResponse(
            {"ok": True, "pinned": conversation.pinned, "archived": conversation.archived}
        )
    return _back(request, pk)


@login_required
@require_POST
def conversation_pin(request: HttpRequest, pk: int) -> HttpResponse:
    """`pinned`: true (to the sidebar's top) or false."""
    return _flagged(request, pk, "pinned")


@login_required
@require_POST
def conversation_archive(request: HttpRequest, pk: int) -> HttpResponse:
    """`archived`: true (out of the sidebar, onto the archive page) or false (restore)."""
    return _flagged(request, pk, "archived")


@login_required
@require_GET
def conversation_row(request: HttpRequest, pk: int) -> HttpResponse:
    """The sidebar's row for one conversation as it is now, for a tab that heard it was
    pinned, unpinned, archived, restored or moved (an `organised` frame): 204 when it is not
    in the sidebar's "Chats" (archived, temporary, in a project), so the tab drops it.
    ?current=<id>: the page's own conversation, marked as such."""
    conversation = get_conversation_for_user(request, pk)
    if conversation.archived or conversation.is_temporary or conversation.project_id:
        return HttpResponse(status=204)
    current = request.GET.get("current", "")
    current_id = int(current) if current.isascii() and current.isdigit() else None
    return render(
        request,
        "conversations/_sidebar_item.html",
        {
            "c": conversation,
            "projects": sidebar_projects(request),
            "current_id": current_id,
            "page_path": reverse("conversation", args=[current_id]) if current_id else "/",
        },
    )


@login_required
@require_GET
def archive_page(request: HttpRequest) -> HttpResponse:
    """The archived conversations, newest first, a page at a time: open, restore, delete."""
    archived = (
        Conversation.objects.for_user(request.user)
        .listed()
        .filter(archived=True)
        .order_by("-updated_at", "-id")
        .only("pk", "title", "updated_at")
    )
    page = Paginator(archived, ARCHIVE_PAGE).get_page(request.GET.get("page"))
    unarchived = (
        Conversation.objects.for_user(request.user).listed().filter(archived=False).exists()
    )
    return render(
        request,
        "conversations/archive.html",
        {
            "nav": "archive",
            "page": page,
            "can_archive_all": unarchived,
            "page_path": request.get_full_path(),
        },
    )


@login_required
@require_POST
def archive_all(request: HttpRequest) -> HttpResponse:
    count = organise.archive_all_conversations(user=request.user)
    flash.info(
        request,
        ngettext("Archived %(count)d conversation.", "Archived %(count)d conversations.", count)
        % {"count": count},
    )
    return redirect(reverse("archive"))
