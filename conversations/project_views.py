"""Projects' pages (#22): the project page (its conversations, a new chat in it, its
settings), create, change, delete, and moving a conversation in or out."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from conversations import projects, views
from conversations.actions import ActionError
from conversations.archive_views import _back
from conversations.models import Conversation, Project

PROJECT_PAGE = 50


def get_project_for_user(request: HttpRequest, pk: int) -> Project:
    """Someone else's project is a 404, as a conversation is."""
    return get_object_or_404(Project.objects.for_user(request.user), pk=pk)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _refused(exc: ActionError) -> JsonResponse:
    return JsonResponse({"ok": False, "code": exc.code, "error": exc.message}, status=exc.status)


@login_required
@require_GET
def project_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The chat page for a project: its conversations (pinned first, newest first, a page
    at a time), a composer that starts a chat in it, and its settings."""
    project = get_project_for_user(request, pk)
    return render(request, "conversations/chat.html", project_context(request, project))


def project_context(request: HttpRequest, project: Project) -> dict[str, Any]:
    """The chat page's context for a project's page (also when its new chat is refused)."""
    listed = (
        Conversation.objects.for_user(request.user)
        .listed()
        .filter(archived=False, project=project)
        .order_by("-pinned", "-updated_at", "-id")
        .only("pk", "title", "updated_at", "pinned")
    )
    page = Paginator(listed, PROJECT_PAGE).get_page(request.GET.get("page"))
    context = views.chat_context(request, None, project=project)
    context.update(project_page=page, page_path=request.get_full_path())
    return context


def refused_page_context(request: HttpRequest, project_id: object) -> dict[str, Any]:
    """The context a refused new chat is shown again in: its project's page if it was
    started from one of the user's projects, else the new-chat page."""
    pk = _int_or_none(project_id)
    project = None if pk is None else Project.objects.for_user(request.user).filter(pk=pk).first()
    if project is None:
        return views.chat_context(request, None)
    return project_context(request, project)


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None


@login_required
@require_POST
def project_create(request: HttpRequest) -> HttpResponse:
    try:
        project = projects.create_project(
            user=request.user,
            name=request.POST.get("name"),
            instructions=request.POST.get("instructions", ""),
            default_model=request.POST.get("default_model", ""),
        )
    except ActionError as exc:
        if _wants_json(request):
            return _refused(exc)
        flash.error(request, exc.message)
        return redirect("home")
    if _wants_json(request):
        return JsonResponse({"ok": True, "id": project.pk, "name": project.name}, status=201)
    return redirect("project", pk=project.pk)


@login_required
@require_POST
def project_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename it, or change its instructions and default model (all in one form)."""
    project = get_project_for_user(request, pk)
    try:
        projects.update_project(
            project=project,
            name=request.POST.get("name"),
            instructions=request.POST.get("instructions", ""),
            default_model=request.POST.get("default_model", ""),
        )
    except ActionError as exc:
        flash.error(request, exc.message)
    else:
        flash.info(request, _("Project saved."))
    return redirect("project", pk=pk)


@login_required
@require_POST
def project_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """`conversations`: "keep" (back to the sidebar's list) or "delete" (with the project)."""
    project = get_project_for_user(request, pk)
    choice = request.POST.get("conversations")
    if choice not in ("keep", "delete"):
        return HttpResponse(_("Choose what happens to the project's conversations."), status=400)
    count = projects.delete_project(project=project, delete_conversations=choice == "delete")
    if choice == "delete":
        flash.info(
            request,
            ngettext(
                "Project deleted with %(count)d conversation.",
                "Project deleted with %(count)d conversations.",
                count,
            )
            % {"count": count},
        )
    else:
        flash.info(request, _("Project deleted; its conversations are back in your list."))
    return redirect("home")


@login_required
@require_POST
def conversation_move(request: HttpRequest, pk: int) -> HttpResponse:
    """`project`: one of the user's projects' id, or empty to take it out of any."""
    conversation = views.get_conversation_for_user(request, pk)
    try:
        project = projects.move_conversation(
            conversation=conversation, project_id=request.POST.get("project")
        )
    except ActionError as exc:
        if _wants_json(request):
            return _refused(exc)
        flash.error(request, exc.message)
        return _back(request, pk)
    if _wants_json(request):
        return JsonResponse({"ok": True, "project": project.pk if project else None})
    return _back(request, pk)
