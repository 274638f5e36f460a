"""A reasoning model's thinking, split from its answer as the reply streams.

Some servers send the thinking in its own delta field (modelclient reads it into
Delta.reasoning); others (DeepSeek-R1 and QwQ through a plain server, Ollama without
`think`) put it in the content, inside a <think>…</think> block at the very start. Only a
leading block counts: a "<think>" later in an answer is the answer's text. The tags may
arrive split across chunks, so a piece that could be the start of a tag waits for the
next chunk. A block still open when the reply ends stays thinking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

OPEN = "<think>"
CLOSE = "</think>"


def _partial_tail(text: str, tag: str) -> int:
    """The length of the longest end of `text` that begins `tag` (a tag cut in two)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """feed() each piece of content; it returns (answer, thinking) as far as known."""

    __slots__ = ("buffer", "state")

    def __init__(self) -> None:
        # start: nothing but whitespace or part of "<think>" seen yet; thinking: inside
        # the block; after: the block closed, the answer's leading blank lines dropped.
        self.state: Literal["start", "thinking", "after", "answer"] = "start"
        self.buffer = ""

    def feed(self, text: str) -> tuple[str, str]:
        if self.state == "answer":
            return text, ""
        data = self.buffer + text
        self.buffer = ""
        if self.state == "start":
            stripped = data.lstrip()
            if stripped.startswith(OPEN):
                self.state = "thinking"
                data = stripped[len(OPEN) :]
            elif not stripped or OPEN.startswith(stripped):
                self.buffer = data  # maybe a tag still to come
                return "", ""
            else:
                self.state = "answer"
                return data, ""
        thinking = ""
        if self.state == "thinking":
            end = data.find(CLOSE)
            if end < 0:
                keep = _partial_tail(data, CLOSE)
                if keep:
                    self.buffer = data[-keep:]
                    data = data[:-keep]
                return "", data
            thinking, data = data[:end], data[end + len(CLOSE) :]
            self.state = "after"
        # After the block: the blank lines models put between thinking and answer go.
        data = data.lstrip()
        if data:
            self.state = "answer"
        return data, thinking

    def finish(self) -> tuple[str, str]:
        """The reply ended: what was held back, as (answer, thinking)."""
        held, self.buffer = self.buffer, ""
        if self.state == "thinking":
            return "", held
        if self.state == "start":
            return held, ""
        return "", ""

    @property
    def thinking(self) -> bool:
        """Inside (or perhaps about to open) a think block: no answer text yet."""
        return self.state in ("start", "thinking")


class Thoughts:
    """One answer's thinking as it streams: split from its text, and timed (from the
    first thinking to the first answer text, or to now while it still thinks)."""

    __slots__ = ("clock", "since", "splitter", "until")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        # Only the reply's start can open a <think> block: one splitter for all rounds.
        self.splitter = ThinkSplitter()
        self.since: float | None = None
        self.until: float | None = None

    def take(self, text: str, reasoning: str) -> tuple[str, str]:
        """A delta's (text, reasoning) -> (answer text, thinking) as far as known."""
        if text and self.splitter.state != "answer":
            text, tagged = self.splitter.feed(text)
            reasoning += tagged
        if reasoning and self.since is None:
            self.since = self.clock()
        if text and self.since is not None and self.until is None:
            self.until = self.clock()
        return text, reasoning

    def finish(self) -> tuple[str, str]:
        """The reply ended: what the splitter held back, as (answer text, thinking)."""
        return self.splitter.finish()

    @property
    def seconds(self) -> float | None:
        if self.since is None:
            return None
        until = self.until if self.until is not None else self.clock()
        return round(until - self.since, 1)
