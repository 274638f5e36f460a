"""The floor (`python -m bench --configs floor,frames`): the bench's chats, over the same
frames, served by daphne and a Channels consumer that only relays the upstream.

No Django app, no middleware, no session, no database, no channel layer: the consumer
accepts the socket, asks the upstream (httpx, streamed, one shared client as Chatweb's),
reads its SSE chunks and sends the text in delta frames coalesced as Chatweb's are (the
first text at once, then one frame per window of DELTA_COALESCE_MS, widened past
DELTA_FRAMES_PER_SECOND frames a second in all), then a `done` with the whole text. It
runs under plain daphne (`python -m daphne`), not Chatweb's launcher.

FLOOR_MODE=frames leaves the upstream out: the consumer makes the reply itself (the
directive's tokens, bench/wire.py), as the upstream would have sent them by then, one
frame per window on a timer. What is left is a delta frame's own cost on the stack: a
timer, `send`, daphne, autobahn, the socket.

What it costs a chat is what any app on Django + Channels + daphne + httpx pays before
doing anything of its own: the bench's report puts it beside Chatweb's figures, so that
what the app adds and what the stack costs are told apart (docs/architecture.md,
"Performance, round 2"). It is not part of the product and is never served by it.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        SECRET_KEY="bench-floor-only",
        INSTALLED_APPS=["channels"],
        ALLOWED_HOSTS=["127.0.0.1"],
        USE_TZ=True,
    )
    django.setup()

import httpx
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from bench.wire import parse_directive

MODE = os.environ.get("FLOOR_MODE", "relay")
UPSTREAM = os.environ.get("OPENAI_API_BASE_URL", "http://127.0.0.1:9/v1").rstrip("/")
MODEL = os.environ.get("OPENAI_API_MODEL", "fake-model")
WINDOW = int(os.environ.get("DELTA_COALESCE_MS", "40")) / 1000
BUDGET = int(os.environ.get("DELTA_FRAMES_PER_SECOND", "2500"))
MAX_WINDOW = int(os.environ.get("DELTA_COALESCE_MAX_MS", "400")) / 1000

_client: httpx.AsyncClient | None = None
_running = 0  # answers streaming in this process (the frame budget's share)
_next_id = 0


def client() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(
            timeout=httpx.Timeout(60.0), limits=httpx.Limits(max_connections=None)
        )
    return _client


def window() -> float:
    if BUDGET > 0 and _running / BUDGET > WINDOW:
        return min(_running / BUDGET, MAX_WINDOW)
    return WINDOW


def chunk_text(data: str) -> str:
    """The text of one `chat.completion.chunk` (or "" for a usage or role-only chunk)."""
    chunk: dict[str, Any] = json.loads(data)
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    content = (choices[0].get("delta") or {}).get("content")
    return content if isinstance(content, str) else ""


class FloorConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        self.answering: asyncio.Task[None] | None = None
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = json.loads(text_data or "{}")
        if frame.get("type") == "send" and self.answering is None:
            answer = self.answer if MODE == "relay" else self.answer_on_timer
            self.answering = asyncio.create_task(answer(frame["text"]))

    async def disconnect(self, code: int) -> None:
        if self.answering is not None:
            self.answering.cancel()

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame))

    async def answer(self, text: str) -> None:
        global _running, _next_id
        _next_id += 1
        message_id = _next_id
        loop = asyncio.get_running_loop()
        sent: list[str] = []
        pending: list[str] = []
        seq = 0
        next_flush = 0.0

        async def flush() -> None:
            nonlocal seq, next_flush
            if not pending:
                return  # the window's timer and a token arrived at once: one frame
            seq += 1
            delta = "".join(pending)
            sent.append(delta)
            pending.clear()
            next_flush = loop.time() + window()
            await self.send_frame(
                {"type": "delta", "message_id": message_id, "seq": seq, "text": delta}
            )

        body = {
            "model": MODEL,
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": text}],
        }
        _running += 1
        try:
            async with client().stream(
                "POST", f"{UPSTREAM}/chat/completions", json=body
            ) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    piece = chunk_text(data)
                    if piece:
                        pending.append(piece)
                        if loop.time() >= next_flush:
                            await flush()
                        elif len(pending) == 1:
                            loop.call_at(next_flush, self._flush_later, flush, pending)
        finally:
            _running -= 1
        if pending:
            await flush()
        done = {"role": "assistant", "id": message_id, "content": "".join(sent), "status": "done"}
        await self.send_frame({"type": "done", "message": done})

    async def answer_on_timer(self, text: str) -> None:
        """The reply the directive asks for, sent as the upstream's tokens would have
        arrived: the first at once, then what is due at each window's end."""
        global _running, _next_id
        reply = parse_directive(text)
        assert reply is not None
        _next_id += 1
        message_id = _next_id
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = seq = 0
        _running += 1
        try:
            while sent < reply.tokens:
                due = reply.tokens  # with no delay, all of them at once
                if reply.delay:
                    due = min(due, 1 + int((loop.time() - started) / reply.delay))
                if due > sent:
                    seq += 1
                    delta = "".join(reply.token(i) for i in range(sent, due))
                    sent = due
                    await self.send_frame(
                        {"type": "delta", "message_id": message_id, "seq": seq, "text": delta}
                    )
                await asyncio.sleep(window())
        finally:
            _running -= 1
        done = {"role": "assistant", "id": message_id, "content": reply.text(), "status": "done"}
        await self.send_frame({"type": "done", "message": done})

    def _flush_later(self, flush: Any, pending: list[str]) -> None:
        if pending:
            self.flushing = asyncio.ensure_future(flush())


application = ProtocolTypeRouter(
    {
        "websocket": URLRouter(
            [path("ws/conversations/<int:conversation>/", FloorConsumer.as_asgi())]
        )
    }
)
