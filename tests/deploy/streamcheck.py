"""The streaming self-test's verdict, in Python, for tests.

static/js/diagnostics.js decides in the browser whether the self-test's events arrived
spread over time ("ok") or all at once ("buffered"); `classify` is the same rule, so a
test can read the HTTP stream through a proxy and reach the page's verdict. Keep the two
in step (MIN_SPREAD_RATIO, the "incomplete" cases).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

import httpx

MIN_SPREAD_RATIO = 0.5

Verdict = Literal["ok", "buffered", "incomplete"]


@dataclass(frozen=True)
class Arrival:
    index: int
    sent: float  # the server's send time, in milliseconds
    arrived: float  # when the client read it, in milliseconds (any clock)


def classify(events: list[Arrival], expected: int) -> Verdict:
    """Return "ok" if the arrivals spread over half the send spread or more, else "buffered"."""
    if len(events) < max(expected, 2):
        return "incomplete"
    sent_spread = events[-1].sent - events[0].sent
    arrival_spread = events[-1].arrived - events[0].arrived
    if sent_spread <= 0:
        return "incomplete"
    return "ok" if arrival_spread >= MIN_SPREAD_RATIO * sent_spread else "buffered"


def spreads(events: list[Arrival]) -> tuple[float, float]:
    """(send spread, arrival spread) in milliseconds, for reports."""
    return events[-1].sent - events[0].sent, events[-1].arrived - events[0].arrived


def parse_lines(chunks: list[tuple[float, bytes]]) -> list[Arrival]:
    """Turn (arrival time, bytes) chunks of the NDJSON stream into events.

    As in the page, a line counts as arrived when the chunk that completes it arrives.
    """
    events: list[Arrival] = []
    pending = b""
    for arrived, chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                event = json.loads(line)
                events.append(Arrival(event["i"], event["sent"], arrived))
    return events


def read_stream(url: str, *, cookies: dict[str, str], timeout: float = 15.0) -> list[Arrival]:
    """GET the self-test's HTTP stream and time each event's arrival (decoded, as fetch does)."""
    chunks: list[tuple[float, bytes]] = []
    with (
        httpx.Client(cookies=cookies, timeout=timeout) as client,
        client.stream("GET", url) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes():
            chunks.append((time.monotonic() * 1000, chunk))
    return parse_lines(chunks)
