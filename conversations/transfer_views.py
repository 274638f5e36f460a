"""Export and import pages (conversations/transfer.py does the work)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from conversations import transfer
from conversations.views import get_conversation_for_user


def _download(body: str, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ChunkedDownload(StreamingHttpResponse):
    """A download made by a synchronous iterator, served piece by piece either way.

    Under ASGI Django would read a synchronous iterator whole into a list before sending
    (and warn): here each piece is made in a worker thread as the download goes, so an
    export holds one attachment's bytes at a time."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pieces: Iterator[bytes] = iter(self.streaming_content)  # type: ignore[arg-type]

        def following() -> bytes | None:
            return next(pieces, None)

        while (piece := await sync_to_async(following, thread_sensitive=False)()) is not None:
            yield piece


def _json_download(document: dict[str, Any], *, filename: str) -> StreamingHttpResponse:
    """The export streamed: its attachments' bytes are read one file at a time as the
    download goes (conversations/exporting.py, json_chunks)."""
    response = ChunkedDownload(
        transfer.json_chunks(document), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def export_one(request: HttpRequest, pk: int, fmt: str) -> HttpResponse | StreamingHttpResponse:
    conversation = get_conversation_for_user(request, pk)
    if fmt == "md":
        return _download(
            transfer.export_markdown(conversation=conversation),
            filename=f"chatweb-{pk}.md",
            content_type="text/markdown",
        )
    document = transfer.export_user(user=request.user, conversation=conversation)  # type: ignore[arg-type]
    return _json_download(document, filename=f"chatweb-{pk}.json")


@login_required
@require_GET
def export_all(request: HttpRequest) -> StreamingHttpResponse:
    document = transfer.export_user(user=request.user)  # type: ignore[arg-type]
    day = timezone.localdate().isoformat()
    return _json_download(document, filename=f"chatweb-{day}.json")


@login_required
def import_page(request: HttpRequest) -> HttpResponse:
    context = {"nav": "transfer", "max_bytes": settings.IMPORT_MAX_BYTES}
    if request.method != "POST":
        return render(request, "conversations/transfer.html", context)
    upload = request.FILES.get("file")
    error = ""
    if upload is None:
        error = _("Choose a file to import.")
    elif upload.size is not None and upload.size > settings.IMPORT_MAX_BYTES:
        error = _(
            "The file is %(size)s bytes; the import limit is %(limit)s bytes (IMPORT_MAX_BYTES)."
        ) % {"size": f"{upload.size:,}", "limit": f"{settings.IMPORT_MAX_BYTES:,}"}
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
            flash.success(
                request,
                ngettext(
                    "Imported %(count)s conversation.", "Imported %(count)s conversations.", count
                )
                % {"count": count},
            )
            return redirect("conversation", pk=created[0].pk) if count == 1 else redirect("home")
    context["error"] = error
    return render(request, "conversations/transfer.html", context, status=400)
