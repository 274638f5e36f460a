"""A message's attachments as the model reads them (#21), and what they cost.

A user message with files is sent as OpenAI's content parts: one text part (the message's
text, then each document's extracted text labelled with its name) and one image_url part
per image. Images go only to a model that reads them (the catalog's flag); another model
reads a note in their place ("[image: shot.png]"), so an older message's screenshot never
breaks a conversation that moved to a text-only model.

Building the context reads rows only (conversations.context stays a function of rows):
an image's part holds a placeholder URL (IMAGE_PLACEHOLDER + its id) until load_images()
reads the bytes from the storage (a worker thread: the storage may be S3) and makes them
a data URL, right before the request.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from catalog import tokens
from conversations import attachments as attaching
from conversations.attachment_models import Attachment
from conversations.models import Message
from modelclient.providers import ChatMessage, ContentPart, TextPart

log = logging.getLogger(__name__)

IMAGE_PLACEHOLDER = "chatweb-attachment:"
# Between the message's text and each document.
SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Cut:
    """A document of the newest message that did not fit whole: the share that was sent."""

    name: str
    percent: int

    def as_json(self) -> dict[str, str | int]:
        return {"name": self.name, "percent": self.percent}


def document_block(name: str, text: str) -> str:
    """A document's text as the model reads it: labelled with its name."""
    label = name.replace('"', "'")
    return f'<document name="{label}">\n{text}\n</document>'


def image_note(name: str) -> str:
    """What a text-only model reads in place of an image."""
    return f"[image: {name}]"


def _documents(message: Message) -> list[Attachment]:
    return [a for a in message.attachment_list() if not a.is_image]


def _images(message: Message) -> list[Attachment]:
    return [a for a in message.attachment_list() if a.is_image]


def document_cost(attachment: Attachment) -> int:
    """A document's tokens with its label and separator (its text: text_tokens)."""
    return attachment.text_tokens + tokens.count(SEPARATOR + document_block(attachment.name, ""))


def fixed_cost(message: Message, *, images: bool) -> int:
    """A message's tokens apart from its documents' text: its own text, its images (or
    their notes), the role overhead."""
    cost = tokens.count_message(message.content)
    for image in _images(message):
        if images:
            cost += tokens.image_tokens(image.width or 0, image.height or 0)
        else:
            cost += tokens.count(SEPARATOR + image_note(image.name))
    return cost


def cost(message: Message, *, images: bool) -> int:
    """A message's tokens as sent whole (documents included)."""
    return fixed_cost(message, images=images) + sum(document_cost(d) for d in _documents(message))


def cut_to_fit(turn: Sequence[Message], room: int, *, images: bool) -> dict[int, int]:
    """The token limits of the newest turn's documents when the turn is over `room`: the
    message text and images are kept, the documents share what is left, in order (the
    first ones whole, as far as they go). {attachment id: tokens of its text sent}."""
    room -= sum(fixed_cost(m, images=images) for m in turn)
    limits: dict[int, int] = {}
    for message in turn:
        for document in _documents(message):
            label = document_cost(document) - document.text_tokens
            take = max(0, min(document.text_tokens, room - label))
            room -= take + label
            if take < document.text_tokens:
                limits[document.pk] = take
    return limits


def cuts(turn: Sequence[Message], limits: dict[int, int]) -> list[Cut]:
    """What the page says of the cut documents: how much of each was sent."""
    return [
        Cut(d.name, 100 * limits[d.pk] // d.text_tokens if d.text_tokens else 0)
        for m in turn
        for d in _documents(m)
        if d.pk in limits
    ]


def content(
    message: Message, *, images: bool, limits: dict[int, int] | None = None
) -> str | list[ContentPart]:
    """A user message's content as the model reads it: its text, its documents' text
    (cut to `limits`), then its images as parts (a model that reads them) or notes."""
    if not message.attachment_count:
        return message.content
    pieces = [message.content] if message.content else []
    for document in _documents(message):
        text = document.text
        if limits is not None and document.pk in limits:
            text = tokens.truncate(text, limits[document.pk])
        pieces.append(document_block(document.name, text))
    pictures = _images(message)
    if not images:
        pieces += [image_note(image.name) for image in pictures]
    text = SEPARATOR.join(pieces)
    if not images or not pictures:
        return text
    parts: list[ContentPart] = [{"type": "text", "text": text}] if text else []
    for image in pictures:
        parts.append({"type": "image_url", "image_url": {"url": f"{IMAGE_PLACEHOLDER}{image.pk}"}})
    return parts


def images_of(messages: Iterable[Message]) -> dict[int, Attachment]:
    """The images a context's parts name (by id), for load_images()."""
    return {a.pk: a for m in messages for a in _images(m)}


def _data_urls(images: list[Attachment]) -> dict[int, str]:
    """The images' bytes as data URLs (worker thread: the storage may be S3); an image
    that cannot be read is left out (the model reads its note instead)."""
    urls: dict[int, str] = {}
    for image in images:
        try:
            data = attaching.read(image)
        except Exception:  # a missing file, an S3 outage: the answer goes on without it
            log.exception("Attachment %s: its file could not be read", image.pk)
            continue
        encoded = base64.b64encode(data).decode("ascii")
        urls[image.pk] = f"data:{image.content_type};base64,{encoded}"
    return urls


async def load_images(
    messages: list[ChatMessage], images: dict[int, Attachment]
) -> list[ChatMessage]:
    """`messages` with each image placeholder made the image's data URL."""
    if not images:
        return messages
    urls = await sync_to_async(_data_urls, thread_sensitive=False)(list(images.values()))
    loaded: list[ChatMessage] = []
    for message in messages:
        parts = message["content"]
        if isinstance(parts, str):
            loaded.append(message)
            continue
        new: list[ContentPart] = []
        for part in parts:
            if part["type"] == "image_url" and part["image_url"]["url"].startswith(
                IMAGE_PLACEHOLDER
            ):
                pk = int(part["image_url"]["url"].removeprefix(IMAGE_PLACEHOLDER))
                if pk in urls:
                    new.append({"type": "image_url", "image_url": {"url": urls[pk]}})
                else:
                    note: TextPart = {"type": "text", "text": image_note(images[pk].name)}
                    new.append(note)
            else:
                new.append(part)
        loaded.append({"role": message["role"], "content": new})
    return loaded
