"""Pages that start answers: they post through the answer engine (streaming.answers)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from conversations import project_views, views
from conversations.actions import ActionError
from streaming import answers


@login_required
@require_POST
async def conversation_create(request: HttpRequest) -> HttpResponseBase:
    """Start a conversation with its first message; the answer starts at once."""
    user = await request.auser()
    text = request.POST.get("text", "")
    # The new-chat page's "Temporary chat" toggle (a checkbox: sent only when on).
    temporary = bool(request.POST.get("temporary"))
    # A project's page starts its chats in the project (its id; the action checks it).
    project_id = request.POST.get("project") or None
    if not await sync_to_async(views.provider_configured)(user):
        # Refused before anything is written: a chat whose answer can only fail helps nobody.
        context = await sync_to_async(views.chat_context)(request, None)
        context.update(error=context["provider_hint"], draft=text, temporary=temporary)
        return await sync_to_async(render)(request, "conversations/chat.html", context, status=503)
    try:
        answer = await answers.start_conversation(
            user=user,
            text=text,
            model=request.POST.get("model") or None,
            temporary=temporary,
            project_id=project_id,
            attachments=_attachment_ids(request.POST.getlist("attachments")),
        )
    except ActionError as exc:
        # Shown again where it was typed: the new-chat page or the project's page.
        context = await sync_to_async(project_views.refused_page_context)(request, project_id)
        context.update(error=exc.message, draft=text, temporary=temporary)
        return await sync_to_async(render)(request, "conversations/chat.html", context, status=400)
    return redirect("conversation", pk=answer.conversation_id)


def _attachment_ids(values: list[str]) -> list[object]:
    """The form's attachment ids as integers where they are (the action refuses the rest)."""
    return [int(v) if v.isdigit() else v for v in values]
