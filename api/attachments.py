"""Files over /api/v1 (#21): upload one, read it back, remove one not sent yet.

A file is uploaded on its own (multipart, the field `file`), checked and stored as the
page's composer does (conversations.attachments.upload: the same limits, storage quota
and refusal codes), then named by id in `attachments` when a message is posted. Its bytes
come back with the headers the page's views send (nosniff, a safe Content-Type,
`Content-Disposition: attachment` for anything but a re-encoded image), to its owner only:
another user's id answers 404, as a missing one does.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import File, Router, Status, UploadedFile

from api import schemas
from api.schemas import Id
from api.v1 import caller_of
from conversations import attachments as attaching
from conversations.attachment_models import Attachment
from conversations.attachment_views import file_response, text_response
from realtime.codes import ProtocolError

router = Router(tags=["attachments"])

FILE_RESPONSE = {
    "responses": {
        200: {
            "description": "The stored bytes, with `X-Content-Type-Options: nosniff` and "
            "`Content-Disposition` (inline for a re-encoded image, attachment otherwise).",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    }
}


def urls_of(attachment: Attachment) -> dict[str, str | None]:
    base = f"/api/v1/attachments/{attachment.pk}"
    return {
        "file_url": f"{base}/file",
        "thumbnail_url": f"{base}/thumbnail" if attachment.thumbnail else None,
        "text_url": None if attachment.is_image else f"{base}/text",
    }


def _not_found() -> ProtocolError:
    return ProtocolError("attachment_not_found", _("No such file of yours."))


async def _owned(request: HttpRequest, pk: int) -> Attachment:
    caller = caller_of(request, "conversations:read")
    found = await Attachment.objects.filter(pk=pk, user_id=caller.user.pk).afirst()
    if found is None:
        raise _not_found()
    return found


@router.post(
    "/attachments",
    response={201: schemas.Uploaded, frozenset({*schemas.REFUSALS, 503}): schemas.ErrorBody},
    summary="Upload a file to attach to a message",
    description="Scope `chat`. Multipart, the field `file`: an image (PNG, JPEG, WebP, GIF), "
    "a PDF, a DOCX or a UTF-8 text file, recognised by its content, at most "
    "ATTACHMENT_MAX_BYTES. 201 with the file, yours and on no message until a post names "
    "its id in `attachments`. Refusals: 413 `attachment_too_large` or `attachment_quota` "
    "(the storage quota), 415 `attachment_unsupported`, 422 `attachment_unreadable`, "
    "`attachment_image_too_big`, `attachment_too_many_pages`, `attachment_encrypted`, "
    "`attachment_no_text`; 503 `attachment_storage_failed` when the store fails; nothing is "
    "kept.",
)
async def upload(request: HttpRequest, file: File[UploadedFile]) -> Any:
    caller = caller_of(request, "chat")
    attachment = await attaching.upload(user=caller.user, uploaded=file)
    return Status(201, {"attachment": attachment.as_event(), **urls_of(attachment)})


@router.get(
    "/attachments/{attachment_id}",
    response={200: schemas.Uploaded, schemas.REFUSALS: schemas.ErrorBody},
    summary="One of your files",
    description="Scope `conversations:read`. 404 `attachment_not_found` for another user's.",
)
async def get_attachment(request: HttpRequest, attachment_id: Id) -> Any:
    attachment = await _owned(request, attachment_id)
    return {"attachment": attachment.as_event(), **urls_of(attachment)}


@router.get(
    "/attachments/{attachment_id}/file",
    response={200: None, schemas.REFUSALS: schemas.ErrorBody},
    openapi_extra=FILE_RESPONSE,
    summary="A file's bytes",
    description="Scope `conversations:read`. An image as re-encoded on the server; a "
    "document as uploaded.",
)
async def attachment_file(request: HttpRequest, attachment_id: Id) -> HttpResponse:
    attachment = await _owned(request, attachment_id)
    data = await sync_to_async(attaching.read, thread_sensitive=False)(attachment)
    return file_response(attachment, data)


@router.get(
    "/attachments/{attachment_id}/thumbnail",
    response={200: None, schemas.REFUSALS: schemas.ErrorBody},
    openapi_extra=FILE_RESPONSE,
    summary="An image's thumbnail (at most 256 pixels a side)",
    description="Scope `conversations:read`. 404 `attachment_not_found` for a document.",
)
async def attachment_thumbnail(request: HttpRequest, attachment_id: Id) -> HttpResponse:
    attachment = await _owned(request, attachment_id)
    if not attachment.thumbnail:
        raise _not_found()
    data = await sync_to_async(attaching.read, thread_sensitive=False)(attachment, thumbnail=True)
    return file_response(attachment, data, thumbnail=True)


@router.get(
    "/attachments/{attachment_id}/text",
    response={200: None, schemas.REFUSALS: schemas.ErrorBody},
    openapi_extra={
        "responses": {
            200: {
                "description": "What the model reads of the document (text/plain).",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        }
    },
    summary="A document's extracted text",
    description="Scope `conversations:read`. 404 `attachment_not_found` for an image.",
)
async def attachment_text(request: HttpRequest, attachment_id: Id) -> HttpResponse:
    attachment = await _owned(request, attachment_id)
    if attachment.is_image:
        raise _not_found()
    return text_response(attachment)


@router.delete(
    "/attachments/{attachment_id}",
    response={204: None, schemas.REFUSALS: schemas.ErrorBody},
    summary="Remove a file not sent yet",
    description="Scope `chat`. Only a file on no message (a sent one goes with its "
    "message); 404 `attachment_not_found` otherwise.",
)
async def remove_attachment(request: HttpRequest, attachment_id: Id) -> Any:
    caller = caller_of(request, "chat")
    deleted, _rows = (
        await Attachment.objects.pending()
        .filter(pk=attachment_id, user_id=caller.user.pk)
        .adelete()
    )
    if not deleted:
        raise _not_found()
    return Status(204, None)
