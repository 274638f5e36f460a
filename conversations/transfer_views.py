"""Export and import pages (conversations/transfer.py does the work)."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from conversations import transfer
from conversations.views import get_conversation_for_user


def _download(body: str, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _json(document: object) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)


@login_required
@require_GET
def export_one(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    conversation = get_conversation_for_user(request, pk)
    if fmt == "md":
        return _download(
            transfer.export_markdown(conversation=conversation),
            filename=f"chatweb-{pk}.md",
            content_type="text/markdown",
        )
    document = transfer.export_user(user=request.user, conversation=conversation)  # type: ignore[arg-type]
    return _download(
        _json(document), filename=f"chatweb-{pk}.json", content_type="application/json"
    )


@login_required
@require_GET
def export_all(request: HttpRequest) -> HttpResponse:
    document = transfer.export_user(user=request.user)  # type: ignore[arg-type]
    day = timezone.localdate().isoformat()
    return _download(
        _json(document), filename=f"chatweb-{day}.json", content_type="application/json"
    )


@login_required
def import_page(request: HttpRequest) -> HttpResponse:
    context = {"nav": "transfer", "max_bytes": settings.IMPORT_MAX_BYTES}
    if request.method != "POST":
        return render(request, "conversations/transfer.html", context)
    upload = request.FILES.get("file")
    error = ""
    if upload is None:
        error = "Choose a file to import."
    elif upload.size is not None and upload.size > settings.IMPORT_MAX_BYTES:
        error = (
            f"The file is {upload.size:,} bytes; the import limit is "
            f"{settings.IMPORT_MAX_BYTES:,} bytes (IMPORT_MAX_BYTES)."
        )
    else:
        try:
            created = transfer.import_file(
                user=request.user,  # type: ignore[arg-type]
                raw=upload.read(settings.IMPORT_MAX_BYTES + 1),
            )
        except transfer.ImportRefused as exc:
            error = exc.message
        else:
            count = len(created)
            flash.success(request, f"Imported {count} conversation{'s' if count != 1 else ''}.")
            return redirect("conversation", pk=created[0].pk) if count == 1 else redirect("home")
    context["error"] = error
    return render(request, "conversations/transfer.html", context, status=400)
