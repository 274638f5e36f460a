"""The load generator: chats over real WebSockets (docs/protocol.md), and the same
replies fetched straight from the upstream (the floor)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.wire import ChatResult, Reply, sse_content


@dataclass(frozen=True)
class Chat:
    """One chat: the session cookie and the pre-created conversation it speaks in."""

    session: str
    conversation: int
    reply: Reply
    token: str = ""  # its user's API token (the /v1 scenarios)

    def message(self) -> str:
        return f"{self.reply.directive()} Please answer."


def _ws_args(base_url: str, chat: Chat, open_timeout: float) -> dict[str, Any]:
    return {
        "uri": base_url.replace("http", "ws", 1) + f"/ws/conversations/{chat.conversation}/",
        "origin": base_url,
        "additional_headers": {"Cookie": f"sessionid={chat.session}"},
        "open_timeout": open_timeout,
        "compression": None,
        "max_size": 2**24,
        "ping_interval": None,
    }


async def ws_chat(
    base_url: str, chat: Chat, deadline: float, *, attachments: list[int] | None = None
) -> ChatResult:
    """Open the socket, send one message (naming uploaded `attachments`, if any), read
    deltas until `done` (or fail, in time)."""
    result = ChatResult(opened_at=time.monotonic())
    stage = "handshake"
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            async with connect(**_ws_args(base_url, chat, deadline - result.opened_at)) as ws:
                stage = "no_done"
                frame: dict[str, Any] = {"type": "send", "text": chat.message()}
                if attachments:
                    frame["attachments"] = attachments
                await ws.send(json.dumps(frame))
                await _read_answer(ws, result)
    except TimeoutError:
        result.failure = "handshake" if stage == "handshake" else "timeout"
        result.detail = f"timed out at {stage}"
    except InvalidHandshake as exc:
        result.failure, result.detail = "handshake", str(exc)[:200]
    except ConnectionClosed as exc:
        result.failure = "handshake" if stage == "handshake" else "no_done"
        result.detail = str(exc)[:200]
    except OSError as exc:
        result.failure = "handshake" if stage == "handshake" else "no_done"
        result.detail = f"{type(exc).__name__}: {exc}"[:200]
    return result


async def _read_answer(ws: ClientConnection, result: ChatResult) -> None:
    answer_id: int | None = None
    parts: list[str] = []
    async for raw in ws:
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "delta":
            now = time.monotonic()
            if answer_id is None:
                answer_id = frame["message_id"]
            elif frame["message_id"] != answer_id:
                result.failure, result.detail = "text_differs", "delta of another message"
            result.seqs.append(frame["seq"])
            result.delta_times.append(now)
            if frame["text"]:
                parts.append(frame["text"])
                if result.first_text_at is None:
                    result.first_text_at = now
        elif kind == "done":
            message = frame["message"]
            if message.get("role") != "assistant":
                continue
            result.done_at = time.monotonic()
            result.saved_text = message.get("content")
            result.saved_status = message.get("status")
            result.text = "".join(parts)
            return
        elif kind == "error":
            result.failure = "error_frame"
            result.detail = f"{frame.get('code')}: {frame.get('message')}"[:200]
            result.text = "".join(parts)
            return
    result.text = "".join(parts)
    raise ConnectionClosed(None, None)


async def hold_idle(base_url: str, chat: Chat, opened: asyncio.Event, stop: asyncio.Event) -> str:
    """An idle socket: open it and keep it open until `stop`; "" or why it failed."""
    try:
        async with connect(**_ws_args(base_url, chat, 30.0)) as ws:
            opened.set()
            waiter = asyncio.ensure_future(stop.wait())
            reader = asyncio.ensure_future(ws.recv())
            await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, reader):
                task.cancel()
            if reader.done() and not reader.cancelled() and reader.exception() is not None:
                return "closed by the server"
            return ""
    except (TimeoutError, InvalidHandshake, ConnectionClosed, OSError) as exc:
        opened.set()
        return type(exc).__name__
    finally:
        opened.set()


async def direct_chat(
    api_base: str, reply: Reply, model: str, deadline: float, *, token: str = ""
) -> ChatResult:
    """The same reply straight from the upstream over a raw HTTP/1.1 connection; with a
    `token`, the same request to the app's OpenAI-compatible /v1 (api_base: the app + /v1)."""
    parts = urlsplit(api_base)
    body = json.dumps(
        {
            "model": model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": f"{reply.directive()} Please answer."},
            ],
        }
    ).encode()
    request = (
        f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        + (f"Authorization: Bearer {token}\r\n" if token else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    result = ChatResult(opened_at=time.monotonic())
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                result.failure, result.detail = "handshake", head[:100].decode("latin-1")
                return result
            pieces: list[str] = []
            buffer = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                buffer += data[:-2]
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    line = event.decode()
                    if not line.startswith("data:"):
                        continue  # keep-alive comments included
                    if line[5:].lstrip().startswith('{"error"'):
                        result.failure, result.detail = "error_frame", line[5:].strip()[:200]
                        continue
                    text, done = sse_content(line[5:].strip())
                    if done:
                        result.done_at = time.monotonic()
                    elif text:
                        now = time.monotonic()
                        if result.first_text_at is None:
                            result.first_text_at = now
                        result.delta_times.append(now)
                        pieces.append(text)
            result.text = "".join(pieces)
            result.seqs = list(range(1, len(result.delta_times) + 1))
            if result.done_at is None and result.failure is None:
                result.failure = "no_done"
    except TimeoutError:
        result.failure = "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        result.failure, result.detail = "no_done", f"{type(exc).__name__}: {exc}"[:200]
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    return result


async def run_load(
    starts: list[Any], ramp: float, chat_seconds: float
) -> tuple[list[ChatResult], float, float]:
    """Start each coroutine factory in `starts` spread evenly over `ramp` seconds; each has
    `chat_seconds` from its own start. Returns (results, first start, last end)."""
    t0 = time.monotonic()
    count = len(starts)

    async def one(index: int) -> ChatResult:
        delay = ramp * index / count if count > 1 else 0.0
        await asyncio.sleep(delay)
        result: ChatResult = await starts[index](time.monotonic() + chat_seconds)
        return result

    results = await asyncio.gather(*(one(i) for i in range(count)))
    return list(results), t0, time.monotonic()
