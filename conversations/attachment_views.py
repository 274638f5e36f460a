"""Attachments' pages (#21): upload one file, read one back, remove a pending one.

Every file is served by these views only, to its owner (404 for anyone else, as for a
conversation) and, under /s/<token>/attachments/, to a live share link's readers when it
is on a message of the link's snapshot, with headers that keep a browser from running
it: nosniff, a safe Content-Type (a re-encoded image's, a PDF's, a DOCX's or text/plain;
never HTML or SVG) and `Content-Disposition: attachment` for anything that is not a
re-encoded image. The views are async: storage reads run in a worker thread (S3 is a
network call), never on the process's database thread.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from conversations import attachments as attaching
from conversations import sharing
from conversations.attachment_models import Attachment
from realtime.codes import ProtocolError
from realtime.events import AttachmentData


def attachment_json(attachment: Attachment) -> dict[str, object]:
    """What the composer gets for an uploaded file: the protocol's object and its URLs."""
    data: AttachmentData = attachment.as_event()
    return {**data, **attachment_urls(attachment.pk, has_thumbnail=bool(attachment.thumbnail))}


def attachment_urls(pk: int, *, has_thumbnail: bool) -> dict[str, str]:
    urls = {"url": reverse("attachment", args=[pk])}
    if has_thumbnail:
        urls["thumbnail_url"] = reverse("attachment_thumbnail", args=[pk])
    else:
        urls["text_url"] = reverse("attachment_text", args=[pk])
    return urls


@login_required
@require_POST
async def attachment_upload(request: HttpRequest) -> HttpResponse:
    """One file (the form field `file`): 201 and the attachment, or a refusal's JSON."""
    user = await request.auser()
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return JsonResponse(
            {"ok": False, "code": "attachment_empty", "error": _("Choose a file to attach.")},
            status=400,
        )
    try:
        attachment = await attaching.upload(user=user, uploaded=uploaded)
    except ProtocolError as exc:
        return JsonResponse(
            {"ok": False, "code": exc.code, "error": exc.message}, status=exc.status
        )
    return JsonResponse({"ok": True, "attachment": attachment_json(attachment)}, status=201)


async def _owned(request: HttpRequest, pk: int) -> Attachment:
    user = await request.auser()
    if user.pk is None:
        raise Http404("No such attachment.")
    attachment = await Attachment.objects.filter(pk=pk, user_id=user.pk).afirst()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def file_response(attachment: Attachment, data: bytes, *, thumbnail: bool = False) -> HttpResponse:
    """The stored bytes with the headers that keep a browser from running them."""
    if thumbnail or attachment.is_image:
        # A re-encoded image (PNG or JPEG, made on the server): shown in place.
        content_type = attachment.content_type
        inline = True
    else:
        content_type = attachment.content_type
        if not content_type.startswith(("application/pdf", "application/vnd.", "text/plain")):
            content_type = "application/octet-stream"
        inline = False
    response = HttpResponse(data, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=not inline, filename=attachment.name
    ) or ("inline" if inline else "attachment")
    # Private to its owner; the browser may keep it, a shared cache may not.
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_GET
async def attachment_file(request: HttpRequest, pk: int) -> HttpResponse:
    attachment = await _owned(request, pk)
    data = await sync_to_async(attaching.read, thread_sensitive=False)(attachment)
    return file_response(attachment, data)


@login_required
@require_GET
async def attachment_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    attachment = await _owned(request, pk)
    if not attachment.thumbnail:
        raise Http404("This attachment has no thumbnail.")
    data = await sync_to_async(attaching.read, thread_sensitive=False)(attachment, thumbnail=True)
    return file_response(attachment, data, thumbnail=True)


@login_required
@require_GET
async def attachment_text(request: HttpRequest, pk: int) -> HttpResponse:
    """A document's extracted text: what the model reads of it."""
    attachment = await _owned(request, pk)
    return text_response(attachment)


def text_response(attachment: Attachment) -> HttpResponse:
    """A document's extracted text, as plain text a browser never runs."""
    response = HttpResponse(attachment.text, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_POST
async def attachment_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """A pending file removed from the composer (its chip's remove button); a sent one stays."""
    user = await request.auser()
    if user.pk is None:
        raise Http404("No such pending attachment.")
    deleted, _rows = await Attachment.objects.pending().filter(pk=pk, user_id=user.pk).adelete()
    if not deleted:
        raise Http404("No such pending attachment.")
    return JsonResponse({"ok": True})


# --- Through a share link (conversations/sharing.py) -------------------------------------


async def _shared(token: str, pk: int) -> Attachment:
    attachment = None
    if len(token) <= 64:
        attachment = await sharing.shared_attachment(token=token, attachment_id=pk)
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def _for_readers(response: HttpResponse) -> HttpResponse:
    # As the shared page: never indexed, no referrer; asked for again on every view, so a
    # revoked link stops showing its files at once.
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-cache"
    return response


@require_GET
async def shared_attachment_file(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    """A file of a shared conversation, for anyone holding the link (no account)."""
    attachment = await _shared(token, pk)
    data = await sync_to_async(attaching.read, thread_sensitive=False)(attachment)
    return _for_readers(file_response(attachment, data))


@require_GET
async def shared_attachment_thumbnail(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    attachment = await _shared(token, pk)
    if not attachment.thumbnail:
        raise Http404("This attachment has no thumbnail.")
    data = await sync_to_async(attaching.read, thread_sensitive=False)(attachment, thumbnail=True)
    return _for_readers(file_response(attachment, data, thumbnail=True))
