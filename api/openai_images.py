"""Images in a /v1/chat/completions request (#21): each image_url part's data URL is
checked the way an uploaded file is (conversations.attachment_files.process: by its
content, decoded under the pixel limit, decompression bombs refused, EXIF dropped,
re-encoded and scaled), in a worker thread, and the model is sent the re-encoded image,
never the caller's bytes. Links are refused earlier (api.openai_request): Chatweb
fetches nothing on a caller's behalf."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils.translation import gettext as _

from api.openai_request import BadParameter, ChatRequest
from conversations import attachment_files
from modelclient.providers import ChatMessage, ContentPart, ImagePart, has_images

DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,")


def _invalid(param: str, message: str) -> BadParameter:
    return BadParameter("invalid_request", message, param)


def _decoded(url: str, param: str) -> bytes:
    match = DATA_URL.match(url)
    if match is None:
        raise _invalid(param, _("An image is a base64 data URL: data:image/png;base64,…"))
    encoded = url[match.end() :]
    # Refused before decoding: base64 is 4 characters per 3 bytes.
    if len(encoded) // 4 * 3 > settings.ATTACHMENT_MAX_BYTES + 3:
        raise attachment_files.too_large("image", len(encoded) // 4 * 3)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(param, _("The image's data URL is not valid base64.")) from None


def _checked_image(part: ImagePart, param: str) -> ImagePart:
    data = _decoded(part["image_url"]["url"], param)
    processed = attachment_files.process("image", data)
    if processed.kind != "image":
        raise _invalid(param, _("An image is a PNG, JPEG, WebP or GIF image."))
    encoded = base64.b64encode(processed.data).decode("ascii")
    image: ImagePart = {
        "type": "image_url",
        "image_url": {"url": f"data:{processed.content_type};base64,{encoded}"},
    }
    if "detail" in part["image_url"]:
        image["image_url"]["detail"] = part["image_url"]["detail"]
    return image


def check_images(messages: list[ChatMessage]) -> list[ChatMessage]:
    """`messages` with every image checked and re-encoded (a worker thread: decoding is
    CPU work), or the first refusal (attachment_* codes, or invalid_request)."""
    checked: list[ChatMessage] = []
    for index, message in enumerate(messages):
        content = message["content"]
        if isinstance(content, str):
            checked.append(message)
            continue
        parts: list[ContentPart] = []
        for number, part in enumerate(content):
            if part["type"] == "image_url":
                param = f"messages[{index}].content[{number}].image_url.url"
                parts.append(_checked_image(part, param))
            else:
                parts.append(part)
        checked.append({"role": message["role"], "content": parts})
    return checked


async def checked(request: ChatRequest) -> ChatRequest:
    """The request with its images checked and re-encoded, off the event loop."""
    if not has_images(request.messages):
        return request
    messages = await sync_to_async(check_images, thread_sensitive=False)(request.messages)
    return dataclasses.replace(request, messages=messages)
