"""Server-rendered pages: the chat, conversation management, sign-in and first-run setup."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import settings_for
from accounts.views import needs_setup
from catalog import config as catalog
from conversations import actions, organise, search
from conversations import attachments as attaching
from conversations.forms import SettingsForm
from conversations.models import Attachment, Conversation, Message, Project

PROVIDER_HINT = _(
    "No model provider is configured. Add one in the admin (Catalog, Providers), or set "
    "OPENAI_API_KEY in .env (and OPENAI_API_BASE_URL for Ollama, vLLM, llama.cpp or another "
    "OpenAI-compatible server, e.g. http://localhost:11434/v1) and restart Chatweb. To try "
    "Chatweb without a key, run make demo."
)
ASK_ADMIN = _(
    "Chatweb has no model to talk to yet. Ask your administrator to configure a model provider."
)


# The empty state's suggestions: (title, detail, the message it sends).
SUGGESTIONS = [
    (
        _("Explain a concept"),
        _("like recursion, to a ten-year-old"),
        _("Explain recursion to a ten-year-old, with one short example."),
    ),
    (
        _("Write some code"),
        _("a Python function that checks a palindrome"),
        _("Write a Python function that checks whether a string is a palindrome, with tests."),
    ),
    (
        _("Make a table"),
        _("comparing three programming languages"),
        _("Make a markdown table comparing Python, Go and Rust: speed, safety, learning curve."),
    ),
    (
        _("Help me write"),
        _("a polite email declining a meeting"),
        _("Help me write a short, polite email declining a meeting invitation."),
    ),
]


def provider_configured(user: Any) -> bool:
    """The catalog's answer: a model this user may use can be reached (the environment's
    provider, or one added in the admin)."""
    return catalog.is_configured(catalog.models_for(user))


def provider_hint(request: HttpRequest) -> str:
    """What to do when no provider is configured: how (an admin), or whom to ask."""
    return str(PROVIDER_HINT if request.user.is_staff else ASK_ADMIN)


def get_conversation_for_user(request: HttpRequest, pk: int) -> Conversation:
    """The one place ownership is enforced: someone else's conversation is a 404."""
    return get_object_or_404(Conversation.objects.for_user(request.user), pk=pk)


# The sidebar lists this many conversations (as many as ChatGPT's first page); "Load
# more" fetches the next ones as a server-rendered partial (conversation_list), by itself
# when the end of the list scrolls into view (sidebar.js). A page then costs about the
# same for a user with 20 conversations as for one with 2,000 (issue 6).
SIDEBAR_PAGE = 28


def _sidebar_page(
    request: HttpRequest, before: Conversation | None = None
) -> tuple[list[Conversation], bool]:
    """One page of the user's listed (not temporary), unarchived conversations outside
    projects, pinned ones first, then newest first (after `before`), and whether more
    follow. One query: keyset pagination on the (user, archived, project, -pinned,
    -updated_at, -id) index."""
    conversations = (
        Conversation.objects.for_user(request.user)
        .listed()
        .filter(archived=False, project__isnull=True)
        .order_by("-pinned", "-updated_at", "-id")
        .only("pk", "title", "updated_at", "pinned", "project")
    )
    if before is not None:
        older = Q(updated_at__lt=before.updated_at) | Q(
            updated_at=before.updated_at, pk__lt=before.pk
        )
        if before.pinned:  # The rest of the pinned ones, then every unpinned one.
            conversations = conversations.filter((Q(pinned=True) & older) | Q(pinned=False))
        else:
            conversations = conversations.filter(older, pinned=False)
    page = list(conversations[: SIDEBAR_PAGE + 1])
    return page[:SIDEBAR_PAGE], len(page) > SIDEBAR_PAGE


# A long conversation's page shows the newest messages of its active path; older ones come
# a page at a time ("Show earlier messages": GET /c/<id>/thread/?before=<message id>). A
# page then costs the same at 50 messages as at 5,000 (issue 6: 500 under 100 ms).
THREAD_PAGE = 50


class NotOnPath(Exception):
    pass


def _thread_window(
    path: list[Message], *, before: int | None = None, focus: int | None = None
) -> dict[str, Any]:
    """The part of the active path a page shows: the THREAD_PAGE messages before the one
    with id `before` (the newest ones without it), reaching back to `focus` (a search
    result) if it is older; with `earlier_id`, the first message shown when older ones
    exist, and `context_from`, where older messages left the model's view, as of the
    latest answer that said so (None when that is the path's first message: nothing was
    left out)."""
    ids = [m.pk for m in path]
    end = len(path)
    if before is not None:
        if before not in ids:
            raise NotOnPath
        end = ids.index(before)
    start = max(0, end - THREAD_PAGE)
    if focus in ids[:start]:
        start = ids.index(focus)
    context_from = next(
        (m.context_from_id for m in reversed(path) if m.context_from_id is not None), None
    )
    if path and context_from == path[0].pk:
        context_from = None
    shown = path[start:end]
    attaching.load_for([*shown, *(m.compared for m in shown[-1:] if m.compared)])
    return {
        "messages": shown,
        "earlier_id": ids[start] if start > 0 else None,
        "context_from": context_from,
    }


def sidebar_projects(request: HttpRequest) -> list[Project]:
    """The sidebar's "Projects" (and every move menu's choices): one query."""
    return list(Project.objects.for_user(request.user).only("pk", "name"))


def chat_context(
    request: HttpRequest,
    conversation: Conversation | None,
    *,
    focus: int | None = None,
    project: Project | None = None,
) -> dict[str, Any]:
    """The chat page's context: a conversation's, the new-chat page's (neither), or a
    project's page (`project`: its new chat starts in it, with its default model)."""
    path: list[Message] = conversation.active_thread() if conversation else []
    sidebar, more = _sidebar_page(request)
    live = next((m for m in path if m.is_live), None)
    models = catalog.models_for(request.user)
    preferences = settings_for(request.user)
    names = [choice.name for choice in models]
    # The conversation's model while the user may still use it, else their default model.
    preferred = (
        conversation.model
        if conversation and conversation.model in names
        else (project.default_model if project and project.default_model in names else "")
        or preferences.default_model
    )
    current_model = catalog.default_for(request.user, preferred, choices=models)
    # Said beside the picker when the user's saved default is what fell back.
    default_notice = (
        catalog.fallback_notice(preferences.default_model, current_model, models)
        if preferred == preferences.default_model
        else ""
    )
    projects = sidebar_projects(request)
    current_project_id = project.pk if project else getattr(conversation, "project_id", None)
    return {
        **_thread_window(path, focus=focus),
        "conversations": sidebar,
        "more_conversations": more,
        "projects": projects,
        # The project shown (its page) or the conversation's: the sidebar marks it.
        "project": project,
        "current_project_id": current_project_id,
        "current_project": next((p for p in projects if p.pk == current_project_id), None),
        "conversation": conversation,
        "streaming_message_id": live.pk if live else None,
        "blank_user": Message(role=Message.Role.USER),
        "blank_answer": Message(role=Message.Role.ASSISTANT),
        "blank_image": Attachment(kind=Attachment.Kind.IMAGE),
        "blank_document": Attachment(kind=Attachment.Kind.DOCUMENT),
        "attachment_max_files": settings.ATTACHMENT_MAX_PER_MESSAGE,
        "models": models,
        "current_model": current_model,
        "default_notice": default_notice,
        "provider_configured": catalog.is_configured(models),
        "provider_hint": provider_hint(request),
        "ws_path": f"/ws/conversations/{conversation.pk}/" if conversation else None,
        "context_enabled": conversation.context_enabled if conversation else True,
        "system_prompt": conversation.system_prompt if conversation else preferences.system_prompt,
        "default_system_prompt": settings.SYSTEM_PROMPT,
        "instructions_enabled": conversation.instructions_enabled if conversation else True,
        "instructions_about": preferences.instructions_about,
        "instructions_style": preferences.instructions_style,
        "max_message_chars": actions.MAX_MESSAGE_CHARS,
        "suggestions": [
            {"title": title, "detail": detail, "text": text} for title, detail, text in SUGGESTIONS
        ],
        # `messages` is the chat here, so Django's flash messages go by another name.
        "flash_messages": list(flash.get_messages(request)),
    }


def home(request: HttpRequest) -> HttpResponse:
    if needs_setup():
        return redirect("setup")
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next=/")
    return render(request, "conversations/chat.html", chat_context(request, None))


@login_required
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_conversation_for_user(request, pk)
    focus = request.GET.get("message", "")
    if not (focus.isascii() and focus.isdigit()):  # "²" is a digit that int() refuses
        return render(request, "conversations/chat.html", chat_context(request, conversation))
    # A search result: show the branch that holds the message, reaching back to it.
    search.focus_message(conversation=conversation, message_id=int(focus))
    context = chat_context(request, conversation, focus=int(focus))
    return render(request, "conversations/chat.html", context)


@login_required
@require_GET
def conversation_thread(request: HttpRequest, pk: int) -> HttpResponse:
    """The active path as a partial: what a page shows again after a `path` frame (its
    newest messages), or with ?before=<message id> the older ones before that message."""
    conversation = get_conversation_for_user(request, pk)
    raw = request.GET.get("before")
    if raw is not None and not (raw.isascii() and raw.isdigit()):
        return HttpResponse("?before= must be a message id.", status=400)
    try:
        window = _thread_window(
            conversation.active_thread(), before=int(raw) if raw is not None else None
        )
    except NotOnPath:
        # The active path changed since the page was drawn: it shows the new one.
        return HttpResponse("That message is no longer on this conversation's path.", status=409)
    return render(request, "conversations/_thread.html", window)


@login_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    """The sidebar's next page after ?before=<conversation id>: list items, no layout."""
    try:
        before_id = int(request.GET.get("before", ""))
    except ValueError:
        return HttpResponse("?before= must be a conversation id.", status=400)
    before = get_conversation_for_user(request, before_id)
    try:
        current_id = int(request.GET.get("current", ""))
    except ValueError:
        current_id = None
    page, more = _sidebar_page(request, before)
    return render(
        request,
        "conversations/_sidebar_page.html",
        {
            "conversations": page,
            "more_conversations": more,
            "projects": sidebar_projects(request),
            "current_id": current_id,
            # Deleting from a row loaded here returns to the page it is shown on.
            "page_path": reverse("conversation", args=[current_id]) if current_id else "/",
        },
    )


@login_required
@require_POST
def conversation_rename(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_conversation_for_user(request, pk)
    try:
        organise.rename(conversation=conversation, title=request.POST.get("title", ""))
    except actions.ActionError as exc:
        flash.error(request, exc.message)
    return redirect("conversation", pk=pk)


@login_required
@require_POST
def conversation_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete it; the page you were on stays, unless it was this conversation."""
    organise.delete_conversation(conversation=get_conversation_for_user(request, pk))
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if safe and back.startswith("/") and back != reverse("conversation", args=[pk]):
        return redirect(back)
    return redirect("home")


@login_required
@require_POST
def conversation_delete_all(request: HttpRequest) -> HttpResponse:
    count = organise.delete_all_conversations(user=request.user)
    flash.info(request, f"Deleted {count} conversation{'' if count == 1 else 's'}.")
    return redirect("home")


@login_required
@require_POST
def conversation_settings(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_conversation_for_user(request, pk)
    wants_json = "application/json" in request.headers.get("Accept", "")
    form = SettingsForm(request.POST)
    form.is_valid()  # Every field is optional; cleaned_data holds what was sent.
    data = form.cleaned_data
    try:
        organise.update_settings(
            conversation=conversation,
            model=data.get("model") or conversation.model,
            context_enabled=bool(data.get("context_enabled")),
            instructions_enabled=bool(data.get("instructions_enabled")),
            system_prompt=data.get("system_prompt", ""),
        )
    except actions.ActionError as exc:
        if wants_json:
            return JsonResponse({"ok": False, "code": exc.code, "error": exc.message}, status=400)
        flash.error(request, exc.message)
        return redirect("conversation", pk=pk)
    if wants_json:
        return JsonResponse({"ok": True})
    return redirect("conversation", pk=pk)


@login_required
@require_POST
def message_rating(request: HttpRequest, pk: int, message_id: int) -> HttpResponse:
    """Thumbs up or down on one of the owner's answers (`rating`: up, down, or empty to
    take it back). JSON either way; a refusal writes nothing."""
    conversation = get_conversation_for_user(request, pk)
    try:
        message = actions.rate_answer(
            conversation=conversation, message_id=message_id, rating=request.POST.get("rating")
        )
    except actions.ActionError as exc:
        return JsonResponse(
            {"ok": False, "code": exc.code, "error": exc.message}, status=exc.status
        )
    return JsonResponse({"ok": True, "rating": message.rating or None})
