"""A small Server-Sent Events reader for tests (the format of the WHATWG spec: `id:`,
`event:`, `data:` lines, a blank line ends an event), over httpx streams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    name: str
    data: Any
    id: str | None


def _parse(lines: list[str]) -> Event | None:
    name, data, event_id = "message", [], None
    for line in lines:
        field, _sep, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
    if not data:
        return None
    return Event(name, json.loads("\n".join(data)), event_id)


def events(response: httpx.Response) -> Iterator[Event]:
    lines: list[str] = []
    for line in response.iter_lines():
        if line:
            lines.append(line)
            continue
        event = _parse(lines)
        lines = []
        if event is not None:
            yield event


async def aevents(response: httpx.Response) -> AsyncIterator[Event]:
    lines: list[str] = []
    async for line in response.aiter_lines():
        if line:
            lines.append(line)
            continue
        event = _parse(lines)
        lines = []
        if event is not None:
            yield event


def text_of(seen: list[Event]) -> str:
    """What a client shows: the last snapshot's text, then each later delta appended."""
    text = ""
    for event in seen:
        if event.name == "snapshot":
            text = event.data["content"]
        elif event.name == "delta":
            text += event.data["text"]
    return text
