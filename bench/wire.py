"""The pure pieces of the benchmark: reply texts, the SSE wire format, statistics, checks.

Nothing here does I/O, so tests/test_bench.py checks it quickly, and the upstream, the
load generator and the report all agree on one definition of "the reply".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# The directive syntax of tests/upstream.py, plus `seed`: each chat gets its own text, so
# a reply delivered to the wrong socket is caught as corrupted, not counted as a success.
DIRECTIVE_RE = re.compile(r"\[\[fake(?P<args>(?:\s+[a-z_]+=[^\s\]]+)*)\s*\]\]")
_CJK = "你好世界天地山水风火日月星云雨雪春夏秋冬东南西北"


@dataclass(frozen=True)
class Reply:
    """What the upstream streams for one request: `tokens` tokens, `delay` s apart."""

    tokens: int = 300
    delay: float = 0.02
    cjk: bool = False
    seed: int = 0

    def directive(self) -> str:
        return (
            f"[[fake tokens={self.tokens} delay={self.delay:g} cjk={int(self.cjk)} "
            f"seed={self.seed}]]"
        )

    def token(self, i: int) -> str:
        return token_text(i, self.seed, cjk=self.cjk)

    def text(self) -> str:
        return "".join(self.token(i) for i in range(self.tokens))


def token_text(i: int, seed: int = 0, *, cjk: bool = False) -> str:
    """Token i of the reply for `seed`. ASCII: "s7w0 s7w1 ..."; CJK: two characters, and
    an emoji (four UTF-8 bytes) on every fifth token, as in tests/upstream.py."""
    if cjk:
        n = len(_CJK)
        text = _CJK[(2 * i + seed) % n] + _CJK[(2 * i + seed + 7) % n]
        return text + ("🙂" if i % 5 == 4 else "")
    return ("" if i == 0 else " ") + f"s{seed}w{i}"


def parse_directive(text: str) -> Reply | None:
    """The Reply a user message asks for, or None if it carries no directive."""
    match = DIRECTIVE_RE.search(text)
    if match is None:
        return None
    values: dict[str, str] = {}
    for pair in match.group("args").split():
        key, _, value = pair.partition("=")
        values[key] = value
    try:
        return Reply(
            tokens=int(values.get("tokens", "8")),
            delay=float(values.get("delay", "0")),
            cjk=values.get("cjk", "0") not in ("0", ""),
            seed=int(values.get("seed", "0")),
        )
    except ValueError:
        return None


# --- The SSE wire format (OpenAI's chat.completion.chunk, as tests/upstream.py sends it) ---


def _dumps(payload: Any) -> str:
    # Compact separators, raw UTF-8: what api.openai.com sends.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class ChunkFormat:
    """Pre-encoded pieces of one response's chunk lines, so a token costs one string join."""

    response_id: str
    created: int
    model: str
    include_usage: bool

    def _base(self) -> dict[str, Any]:
        return {
            "id": self.response_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        extra: dict[str, Any] = {"usage": None} if self.include_usage else {}
        return b"data: " + _dumps({**self._base(), "choices": [choice], **extra}).encode() + b"\n\n"

    def content_prefix_suffix(self) -> tuple[bytes, bytes]:
        marker = "\x00MARK\x00"
        line = self.chunk({"content": marker}).decode()
        prefix, _, suffix = line.partition(_dumps(marker))
        return prefix.encode(), suffix.encode()

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return (
            b"data: " + _dumps({**self._base(), "choices": [], "usage": usage}).encode() + b"\n\n"
        )


DONE_LINE = b"data: [DONE]\n\n"


def chunked(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (an empty `data` is the last chunk)."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def sse_content(data: str) -> tuple[str | None, bool]:
    """(content text or None, is_done) of one SSE `data:` payload from the upstream."""
    if data == "[DONE]":
        return None, True
    payload = json.loads(data)
    choices = payload.get("choices") or []
    if not choices:
        return None, False
    content = (choices[0].get("delta") or {}).get("content")
    return (content if isinstance(content, str) else None), False


# --- Statistics ------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100), linearly interpolated between ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- One chat's outcome ----------------------------------------------------------------

FAILURES = ("handshake", "error_frame", "timeout", "no_done")
CORRUPTIONS = ("text_differs", "seq_gap", "saved_differs")


@dataclass
class ChatResult:
    """One chat as the client saw it. Times are seconds from time.monotonic()."""

    opened_at: float = 0.0
    first_text_at: float | None = None
    done_at: float | None = None
    delta_times: list[float] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    text: str = ""
    saved_text: str | None = None
    saved_status: str | None = None
    failure: str | None = None
    detail: str = ""

    @property
    def ttft(self) -> float | None:
        return None if self.first_text_at is None else self.first_text_at - self.opened_at

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.delta_times, self.delta_times[1:], strict=False)]


def check(result: ChatResult, expected: str) -> str | None:
    """Why a finished chat is corrupted ("text_differs", "seq_gap", "saved_differs"), or None.

    The reply is the deltas' text joined in arrival order; it must equal what the upstream
    sent, character for character, with seq 1, 2, 3... and no gap; the `done` message must
    hold the same text, status "done".
    """
    if result.seqs != list(range(1, len(result.seqs) + 1)):
        return "seq_gap"
    if result.text != expected:
        return "text_differs"
    if result.saved_status is not None and (
        result.saved_status != "done" or result.saved_text != expected
    ):
        return "saved_differs"
    return None


def first_difference(got: str, expected: str) -> int:
    """The index of the first character where `got` and `expected` differ (-1 if equal)."""
    if got == expected:
        return -1
    for index, (a, b) in enumerate(zip(got, expected, strict=False)):
        if a != b:
            return index
    return min(len(got), len(expected))


def explain(result: ChatResult, expected: str, problem: str) -> str:
    """Where a corrupted reply goes wrong, in a few words."""
    if problem == "seq_gap":
        wanted = next(
            (n for n, seq in enumerate(result.seqs, start=1) if seq != n), len(result.seqs)
        )
        return f"delta {wanted} had seq {result.seqs[wanted - 1]} ({len(result.seqs)} deltas)"
    got = result.text if problem == "text_differs" else (result.saved_text or "")
    at = first_difference(got, expected)
    return (
        f"{len(got)} of {len(expected)} characters, first difference at {at} "
        f"(status {result.saved_status})"
    )


def summarise(results: Iterable[ChatResult], expected: dict[int, str]) -> dict[str, Any]:
    """Counts and latency figures of one load (results indexed like `expected`)."""
    completed = failed = corrupted = 0
    reasons: dict[str, int] = {}
    ttfts: list[float] = []
    gaps: list[float] = []
    frames: list[int] = []
    for index, result in enumerate(results):
        if result.failure is None:
            problem = check(result, expected[index])
            if problem is not None:
                result.failure = problem
                result.detail = explain(result, expected[index], problem)
        if result.failure in FAILURES:
            failed += 1
        elif result.failure is not None:
            corrupted += 1
        else:
            completed += 1
        if result.failure is not None:
            reasons[result.failure] = reasons.get(result.failure, 0) + 1
        if result.ttft is not None:
            ttfts.append(result.ttft)
        gaps.extend(result.gaps())
        if result.delta_times:
            frames.append(len(result.delta_times))
    return {
        "completed": completed,
        "failed": failed,
        "corrupted": corrupted,
        "reasons": reasons,
        "ttft": ttfts,
        "gaps": gaps,
        "frames_per_reply": (sum(frames) / len(frames)) if frames else None,
    }
