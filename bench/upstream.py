"""A fast OpenAI-compatible upstream for load: asyncio, one process, thousands of streams.

    python -m bench.upstream --port 9100

tests/upstream.py (one thread per request) is the reference for the wire format; this one
speaks the same SSE `chat.completion.chunk` lines over chunked HTTP/1.1 with keep-alive, but
cheaply: streams that share an inter-token delay are served by one ticker, so 1000 streams
cost one timer, not 1000. A user message carries `[[fake tokens=N delay=S cjk=0|1 seed=K]]`
(bench.wire.Reply); the reply is deterministic, so the load generator knows every character
it must receive. Without a directive the reply is 8 tokens of seed 0. A non-streamed request
(the app's title) gets "Title: Bench chat".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from dataclasses import dataclass
from typing import Any

from bench.wire import DONE_LINE, ChunkFormat, Reply, chunked, parse_directive

MAX_BODY = 10_000_000
HEADER_LIMIT = 65536


@dataclass
class _Stream:
    writer: asyncio.StreamWriter
    reply: Reply
    prefix: bytes
    suffix: bytes
    tail: bytes
    done: asyncio.Future[None]
    next_token: int = 0

    def write_token(self) -> bool:
        """Write the next token; True once the reply is complete (its tail written too)."""
        if self.writer.transport.is_closing():
            if not self.done.done():
                self.done.set_result(None)
            return True
        text = json.dumps(self.reply.token(self.next_token), ensure_ascii=False).encode()
        self.writer.write(chunked(self.prefix + text + self.suffix))
        self.next_token += 1
        if self.next_token >= self.reply.tokens:
            self.writer.write(self.tail)
            if not self.done.done():
                self.done.set_result(None)
            return True
        return False


class Ticker:
    """Sends one token to every stream of one inter-token delay on each tick."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.streams: list[_Stream] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, stream: _Stream) -> None:
        self.streams.append(stream)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.delay
        while self.streams:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due += self.delay
            # Ticks missed under load are not made up in a burst: the schedule slips.
            due = max(due, loop.time())
            self.streams = [s for s in self.streams if not s.write_token()]


class BenchUpstream:
    def __init__(self) -> None:
        self.tickers: dict[float, Ticker] = {}
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(
            self._serve, "127.0.0.1", port, backlog=4096, limit=HEADER_LIMIT
        )
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for ticker in self.tickers.values():
                if ticker.task is not None:
                    ticker.task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            self._json(writer, 413, {"error": {"message": "too large", "type": "x"}})
            return False
        body = await reader.readexactly(length) if length else b""
        keep_alive = headers.get("connection", "").lower() != "close"
        self.requests += 1
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path == "/v1/models":
            models = [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "bench"}]
            self._json(writer, 200, {"object": "list", "data": models})
        elif method == "POST" and path == "/v1/chat/completions":
            try:
                request = json.loads(body)
                messages = request["messages"]
                assert isinstance(messages, list)
            except (ValueError, KeyError, TypeError, AssertionError):
                self._json(writer, 400, {"error": {"message": "bad request", "type": "x"}})
                return keep_alive
            if request.get("stream"):
                await self._stream(writer, request, messages)
            else:
                self._complete(writer, request)
        else:
            self._json(
                writer, 404, {"error": {"message": f"No route {method} {path}", "type": "x"}}
            )
        await writer.drain()
        return keep_alive

    def _json(self, writer: asyncio.StreamWriter, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )

    def _complete(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> None:
        self._json(
            writer,
            200,
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Title: Bench chat"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
            },
        )

    async def _stream(
        self, writer: asyncio.StreamWriter, request: dict[str, Any], messages: list[Any]
    ) -> None:
        last_user = next(
            (m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), ""
        )
        reply = parse_directive(_text_of(last_user)) or Reply(tokens=8, delay=0.0)
        fmt = ChunkFormat(
            response_id=f"chatcmpl-bench-{self.requests:x}",
            created=int(time.time()),
            model=str(request.get("model", "")),
            include_usage=bool((request.get("stream_options") or {}).get("include_usage")),
        )
        prefix, suffix = fmt.content_prefix_suffix()
        tail = chunked(fmt.chunk({}, "stop"))
        if fmt.include_usage:
            prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
            tail += chunked(fmt.usage(prompt, reply.tokens))
        tail += chunked(DONE_LINE) + chunked(b"")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked(fmt.chunk({"role": "assistant", "content": ""}))
        )
        stream = _Stream(
            writer, reply, prefix, suffix, tail, asyncio.get_running_loop().create_future()
        )
        if reply.tokens <= 0:
            writer.write(tail)
            return
        # The first token goes out at once, the others `delay` apart.
        if stream.write_token():
            return
        if reply.delay <= 0:
            while not stream.write_token():
                await writer.drain()
            return
        ticker = self.tickers.get(reply.delay)
        if ticker is None:
            ticker = self.tickers[reply.delay] = Ticker(reply.delay)
        ticker.add(stream)
        await stream.done


def _text_of(content: object) -> str:
    """A message's text: its content, or the text parts of a list of content parts (a
    message with images: OpenAI's `text` and `image_url` parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


async def _main(port: int) -> None:
    upstream = BenchUpstream()
    bound = await upstream.start(port)
    print(f"bench upstream at http://127.0.0.1:{bound}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await upstream.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.port))


if __name__ == "__main__":
    main()
