"""A real, local OpenAI-compatible model server for tests and demos (standard library only).

Run it to try Chatweb without an API key:

    python -m tests.upstream --port 9000          # then
    OPENAI_API_BASE_URL=http://127.0.0.1:9000/v1 make run

In tests, the `fake_upstream` fixture gives a running FakeUpstream (one server per test
session, its recorded requests cleared before each test); point the app at
`fake_upstream.base_url`.

Endpoints
    GET  /v1/models            a fixed list of model ids (any model id is accepted below);
                               those of IMAGE_MODELS list "image" in
                               architecture.input_modalities (as OpenRouter does).
    POST /v1/chat/completions  "stream": true -> server-sent events shaped like OpenAI's
                               chat.completion.chunk, over chunked transfer, ending in
                               finish_reason, a usage chunk if stream_options.include_usage,
                               then `data: [DONE]`. "stream": false -> one chat.completion
                               whose content is "Title: " + the first four words of the
                               first user message (directives removed), or
                               "Title: New chat" if it has none.

Directives: a user message may contain `[[fake key=value key=value ...]]`. User messages
are searched from the latest backwards; the first one carrying a directive decides the
behaviour (so the app's "continue" message, which has none, inherits the original one).

    tokens=N             the reply is N tokens: token_text(i, round) (default 8).
    delay=SECONDS        pause between tokens (default 0.005).
    length_rounds=K      finish_reason is "length" while the round < K, else "stop". Each
                         round streams that round's tokens. The round is how many rounds
                         the assistant messages after the directive's user message already
                         hold: counted by their text (whitespace ignored), so it is right
                         whether the app resends each round as its own assistant message
                         or all of them merged into one; if their text is not this
                         directive's reply, it is the number of those assistant messages.
    status=CODE          answer HTTP CODE with {"error": {"message": "Fake upstream
                         failure (CODE)", "type": "server_error"}} (streamed or not).
    hang=headers         never answer (streamed or not).
    hang_after=N         send N tokens, then go silent.
    drop_after=N         send N tokens, then close the TCP connection mid-body (FIN).
    reset_after=N        send N tokens, then reset the connection (RST, SO_LINGER 0).
    end_after=N          send N tokens, then end the body cleanly: no finish_reason and
                         no [DONE].
    error_event_after=N  send N tokens, then `data: {"error": {"message": "Fake stream
                         error", ...}}` and end the body.
    cjk=1                the tokens are CJK text (token_text(i, round, cjk=True)) and every
                         multi-byte character is split across separate socket writes.
    nul=1                every token ends with U+0000, and token 1 also carries a lone
                         surrogate (sent as the JSON escape "\\ud800"): what PostgreSQL
                         refuses to store. clean_token_text(i) is what must be stored.
    burst=1              the whole reply, `data: [DONE]` and the body's end included, in one
                         socket write (no delay): the client reads it from a full buffer, as
                         from a fast upstream, and never waits on the socket mid-reply.
    retry_after=VALUE    with status=CODE: a Retry-After header of VALUE (seconds).
    echo=1               the reply is the directive's message without the directive, as
                         written (whitespace kept), streamed a word at a time: a test
                         makes the "model" write exactly what it needs.
    echo_key=WHERE       echo the API key the client sent (its Authorization header), as
                         careless servers do, for leak tests: `401` answers HTTP 401 whose
                         error message holds it; `event` sends 2 tokens, then an error
                         event whose message holds it; `garbage` sends 2 tokens, then a
                         non-JSON `data:` line with the key at offset 60.

    think=N              a reasoning model: N thinking tokens (thinking_text(i)) before the
                         answer, and usage's completion_tokens_details.reasoning_tokens = N.
    thinkform=FORM       how the thinking is sent: `field` (default) in the delta's
                         `reasoning_content`, `reasoning` in its `reasoning` (OpenRouter,
                         Ollama), `tag` inside <think>…</think> at the start of the content,
                         each tag cut in two across chunks.

Silences (hang, hang_after) last until the client goes away or the server stops, at most
HANDLER_LIMIT_S; no handler runs longer than that.

Without a directive the reply is a short markdown demo echoing the user's last message
(demo_text()), streamed word by word at DEMO_DELAY_S per token.

Every request is recorded (FakeUpstream.requests) with its headers, JSON body, how many
tokens were sent, whether the server noticed the client leave, and an Event set when the
handler is done.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

HANDLER_LIMIT_S = 60.0
DEFAULT_TOKENS = 8
DEFAULT_DELAY_S = 0.005
DEMO_DELAY_S = 0.03
# Pause between the parts of a split multi-byte character (cjk=1).
SPLIT_PAUSE_S = 0.003
MODELS = ["gpt-4o-mini", "gpt-4o", "fake-model"]
# The models /v1/models reports as taking images, the way OpenRouter says it
# (architecture.input_modalities); the catalog's "Test connection" reads it.
IMAGE_MODELS = {"gpt-4o"}

DIRECTIVE_RE = re.compile(r"\[\[fake(?P<args>(?:\s+[a-z_]+=[^\s\]]+)*)\s*\]\]")
_INT_KEYS = {
    "tokens",
    "length_rounds",
    "status",
    "hang_after",
    "drop_after",
    "reset_after",
    "end_after",
    "error_event_after",
    "cjk",
    "nul",
    "burst",
    "retry_after",
    "echo",
    "think",
}
_CUT_KEYS = ("hang_after", "drop_after", "reset_after", "end_after", "error_event_after")
_CJK = "你好世界天地山水风火日月星云雨雪春夏秋冬东南西北"


def token_text(i: int, round: int = 0, *, cjk: bool = False) -> str:
    """Token i of continuation round `round`.

    ASCII tokens read "r0w0 r0w1 r0w2": every token but the very first of round 0 starts
    with a space, so consecutive rounds concatenate into one clean space-separated text.
    CJK tokens are two characters (plus an emoji, four UTF-8 bytes, on every fifth).
    """
    if cjk:
        n = len(_CJK)
        text = _CJK[(2 * i + round) % n] + _CJK[(2 * i + round + 7) % n]
        return text + ("🙂" if i % 5 == 4 else "")
    return ("" if i == 0 and round == 0 else " ") + f"r{round}w{i}"


def clean_token_text(i: int) -> str:
    """Token i of a `nul=1` reply as it must be stored: no NUL, the surrogate as U+FFFD."""
    return token_text(i) + ("\ufffd" if i == 1 else "")


def thinking_text(i: int) -> str:
    """Thinking token i of a `think=N` reply: "t0 t1 t2 ..."."""
    return ("" if i == 0 else " ") + f"t{i}"


def expected_thinking(think: int) -> str:
    return "".join(thinking_text(i) for i in range(think))


def expected_text(tokens: int, round: int = 0, *, cjk: bool = False) -> str:
    """The whole text of one round of a `tokens=N` reply.

    A reply continued over rounds 0..K is "".join(expected_text(N, r) for r in range(K+1)).
    """
    return "".join(token_text(i, round, cjk=cjk) for i in range(tokens))


SHOWCASE = (
    "A table:\n\n"
    "| Feature | Where |\n"
    "| --- | --- |\n"
    "| Streaming | every answer |\n"
    "| History | on the server |\n\n"
    "And math, inline $e^{i\\pi} + 1 = 0$ or on its own line:\n\n"
    "$$\\int_0^1 x^2 \\, dx = \\frac{1}{3}$$\n\n"
)


def demo_text(user_text: str, *, showcase: bool = False) -> str:
    """The markdown reply to a message without a directive.

    showcase (`make demo`, `--showcase`): also a table and math, a tour of what Chatweb
    renders. The tests' answers stay without them (they count what they typeset).
    """
    quoted = " ".join(user_text.split())[:200] or "(nothing)"
    return (
        "### Hello from the fake upstream\n\n"
        f"You said: **{quoted}**\n\n"
        "This reply comes from Chatweb's local test server, which streams like an "
        "OpenAI-compatible model. Things to look at:\n\n"
        "- the text arrives *word by word*;\n"
        "- markdown renders: **bold**, `inline code`, lists;\n"
        "- code blocks are highlighted:\n\n"
        "```python\n"
        "def greet(name: str) -> str:\n"
        '    return f"Hello, {name}!"\n'
        "```\n\n"
        + (SHOWCASE if showcase else "")
        + "Set `OPENAI_API_KEY` (and `OPENAI_API_BASE_URL`) in `.env` to talk to a real model."
    )


def title_text(messages: list[dict[str, Any]]) -> str:
    """The content of a non-streamed completion: "Title: <first 4 words>"."""
    for message in messages:
        if message.get("role") == "user":
            words = DIRECTIVE_RE.sub(" ", _content(message)).split()[:4]
            if words:
                return "Title: " + " ".join(words)
            break
    return "Title: New chat"


def parse_directive(messages: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, int]:
    """(directive, round): the latest user directive, and the assistant turns after it."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.get("role") != "user":
            continue
        match = DIRECTIVE_RE.search(_content(message))
        if match is None:
            continue
        directive: dict[str, Any] = {}
        for pair in match.group("args").split():
            key, _, value = pair.partition("=")
            if key in _INT_KEYS:
                directive[key] = int(value)
            elif key == "delay":
                directive[key] = float(value)
            else:
                directive[key] = value
        answers = [_content(m) for m in messages[index + 1 :] if m.get("role") == "assistant"]
        return directive, _rounds_done(directive, answers)
    return None, 0


def _rounds_done(directive: dict[str, Any], answers: list[str]) -> int:
    """How many whole rounds of the directive's reply the assistant `answers` contain."""
    written = "".join("".join(answers).split())
    tokens = _token_count(directive)
    cjk = bool(directive.get("cjk"))
    rounds, expected = 0, ""
    while rounds < 10_000:
        expected += "".join(expected_text(tokens, rounds, cjk=cjk).split())
        if not expected or not written.startswith(expected):
            break
        rounds += 1
    return rounds or len(answers)


def _token_count(directive: dict[str, Any]) -> int:
    """tokens=N, else enough tokens for any *_after=N cut, at least DEFAULT_TOKENS."""
    cuts = [directive[key] for key in _CUT_KEYS if key in directive]
    return int(directive.get("tokens", max([DEFAULT_TOKENS, *cuts])))


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI's content parts.
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    directive: dict[str, Any] | None = None
    round: int = 0
    finished: threading.Event = field(default_factory=threading.Event)
    # True only when the server really saw the client go away (a failed write, or the
    # connection closed while the server was waiting).
    client_disconnected: bool = False
    tokens_sent: int = 0

    @property
    def body(self) -> Any:
        """The request's JSON body (an alias of `json`)."""
        return self.json


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # Bounds a keep-alive connection's idle wait and any single blocked write.
    timeout = HANDLER_LIMIT_S

    # --- plumbing ------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"fake upstream: {format % args}\n")

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _write(self, data: bytes, *, framed: bool = False) -> None:
        """Send one HTTP chunk (`framed`: bytes already framed as chunks); a client that has
        gone away raises _ClientGone."""
        try:
            self.wfile.write(data if framed else b"%x\r\n%s\r\n" % (len(data), data))
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            self.record.client_disconnected = True
            raise _ClientGone from exc

    def _wait(self, seconds: float) -> bool:
        """Sleep, watching the socket; False if the client left, the server stops, or the
        handler's time is up."""
        end = min(time.monotonic() + seconds, self.deadline)
        while True:
            if self.server.stopping.is_set():
                return False
            remaining = end - time.monotonic()
            if remaining <= 0:
                return time.monotonic() < self.deadline
            try:
                readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.1))
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    # stop() shuts connections down too; only an EOF it did not cause
                    # means the client left.
                    if not self.server.stopping.is_set():
                        self.record.client_disconnected = True
                    return False
            except (ConnectionResetError, ConnectionAbortedError):
                self.record.client_disconnected = True
                return False
            except (OSError, ValueError):
                return False
            if readable:
                # The client sent bytes mid-response (it should not); do not spin on them.
                time.sleep(min(remaining, 0.05))

    def _hang(self) -> None:
        self._wait(HANDLER_LIMIT_S)
        self.close_connection = True

    # --- endpoints -----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._serve(body=None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, 10_000_000)) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._serve(body=body)

    def _serve(self, *, body: Any) -> None:
        self.deadline = time.monotonic() + HANDLER_LIMIT_S
        self.record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={key.lower(): value for key, value in self.headers.items()},
            json=body,
        )
        self.server.record(self.record)
        try:
            self._route(body)
        except _ClientGone:
            self.close_connection = True
        except (TimeoutError, OSError):
            self.close_connection = True
        finally:
            self.record.finished.set()

    def _route(self, body: Any) -> None:
        key = self.server.api_key
        if key and self.record.headers.get("authorization") != f"Bearer {key}":
            sent = self.record.headers.get("authorization", "").removeprefix("Bearer ")
            # Like real servers, echo what the client sent: the client must scrub it.
            self._send_json(
                401,
                {
                    "error": {
                        "message": f"Incorrect API key provided: {sent}.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        if self.command == "GET" and path == "/v1/models":
            models = [
                {
                    "id": m,
                    "object": "model",
                    "created": 0,
                    "owned_by": "fake-upstream",
                    "architecture": {
                        "input_modalities": ["text", "image"] if m in IMAGE_MODELS else ["text"]
                    },
                }
                for m in MODELS
            ]
            self._send_json(200, {"object": "list", "data": models})
        elif self.command == "POST" and path == "/v1/chat/completions":
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                self._send_json(
                    400,
                    {"error": {"message": "messages is required", "type": "invalid_request"}},
                )
                return
            self._chat(body)
        else:
            self._send_json(
                404, {"error": {"message": f"No route {self.command} {path}", "type": "x"}}
            )

    def _chat(self, body: dict[str, Any]) -> None:
        messages: list[dict[str, Any]] = body["messages"]
        directive, round_ = parse_directive(messages)
        self.record.directive, self.record.round = directive, round_
        d = directive or {}
        status = d.get("status")
        if status:
            message = f"Fake upstream failure ({status})"
            headers = {"Retry-After": str(d["retry_after"])} if "retry_after" in d else None
            error = {"error": {"message": message, "type": "server_error"}}
            self._send_json(status, error, headers)
            return
        if d.get("echo_key") == "401":
            self._send_json(401, {"error": {"message": f"Incorrect API key: {self._sent_key()}"}})
            return
        if d.get("hang") == "headers":
            self._hang()
            return
        if not body.get("stream"):
            self._complete(body, messages)
        else:
            self._stream(body, messages, d, round_, demo=directive is None)

    def _sent_key(self) -> str:
        return self.record.headers.get("authorization", "").removeprefix("Bearer ")

    def _complete(self, body: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        content = title_text(messages)
        prompt = _count_words(messages)
        completion = len(content.split())
        self._send_json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            },
        )

    def _stream(
        self,
        body: dict[str, Any],
        messages: list[dict[str, Any]],
        d: dict[str, Any],
        round_: int,
        *,
        demo: bool,
    ) -> None:
        cjk = bool(d.get("cjk"))
        nul = bool(d.get("nul"))
        echo = d.get("echo_key")
        cut_key = next((k for k in _CUT_KEYS if k in d), None)
        if demo:
            last_user = next(
                (_content(m) for m in reversed(messages) if m.get("role") == "user"), ""
            )
            showcase = self.server.owner.showcase
            tokens = re.findall(r"\S+\s*|\s+", demo_text(last_user, showcase=showcase))
            delay = self.server.owner.demo_delay_s
        elif d.get("echo"):
            said = next(
                (
                    _content(m)
                    for m in reversed(messages)
                    if m.get("role") == "user" and DIRECTIVE_RE.search(_content(m))
                ),
                "",
            )
            tokens = re.findall(r"\S+\s*|\s+", DIRECTIVE_RE.sub("", said, count=1).strip())
            delay = d.get("delay", DEFAULT_DELAY_S)
        else:
            tokens = [token_text(i, round_, cjk=cjk) for i in range(_token_count(d))]
            delay = d.get("delay", DEFAULT_DELAY_S)
        if nul:
            tokens = [text + "\x00" + ("\ud800" if i == 1 else "") for i, text in enumerate(tokens)]
        cut = d[cut_key] if cut_key else len(tokens)
        if echo in ("event", "garbage"):
            cut = min(cut, 2)

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunk_base = {
            "id": f"chatcmpl-fake-{id(self.record):x}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", ""),
        }

        burst: list[bytes] | None = [] if d.get("burst") else None

        def event(payload: dict[str, Any], *, split: bool = False) -> None:
            # ensure_ascii for nul=1: a lone surrogate can only travel as a JSON escape.
            line = "data: " + json.dumps(payload, ensure_ascii=nul) + "\n\n"
            if burst is not None:
                burst.append(line.encode())
                return
            if not split:
                self._write(line.encode())
                return
            for part in _split_characters(line):
                self._write(part)
                if not self._wait(SPLIT_PAUSE_S):
                    raise _ClientGone

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            extra = {"usage": None} if include_usage else {}
            return {**chunk_base, "choices": [choice], **extra}

        event(chunk({"role": "assistant", "content": ""}))
        think = int(d.get("think", 0))
        form = d.get("thinkform", "field")
        thoughts = [thinking_text(i) for i in range(think)]
        if form == "tag" and think:
            # The tags cut in two, so a client must join pieces across chunks.
            pieces = ["\n<thi", "nk>", *thoughts, "</th", "ink>\n\n"]
            thoughts = []
            tokens = [*pieces, *tokens]
            cut += len(pieces)
        key = "reasoning" if form == "reasoning" else "reasoning_content"
        for i, text in enumerate(thoughts):
            if i and burst is None and not self._wait(delay):
                raise _ClientGone
            event(chunk({"content": None, key: text}))
        for i, text in enumerate(tokens[:cut]):
            if i and burst is None and not self._wait(delay):
                raise _ClientGone
            event(chunk({"content": text}), split=cjk)
            self.record.tokens_sent += 1

        if echo == "event":
            error = {"error": {"message": f"Key {self._sent_key()} is over its quota"}}
            event(error)
            self._write(b"")
            return
        if echo == "garbage":
            self._write(f"data: {'x' * 60}{self._sent_key()} and more garbage\n\n".encode())
            self._write(b"")
            return
        if cut_key == "hang_after":
            self._hang()
            return
        if cut_key == "drop_after":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if cut_key == "reset_after":
            self._reset()
            return
        if cut_key == "end_after":
            self._write(b"")
            return
        if cut_key == "error_event_after":
            error = {"error": {"message": "Fake stream error", "type": "server_error"}}
            event(error)
            self._write(b"")
            return

        rounds = d.get("length_rounds", 0)
        event(chunk({}, "length" if round_ < rounds else "stop"))
        if include_usage:
            prompt = _count_words(messages)
            completion = len(tokens) + len(thoughts)
            usage: dict[str, Any] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            if think:
                usage["completion_tokens_details"] = {"reasoning_tokens": think}
            event({**chunk_base, "choices": [], "usage": usage})
        if burst is not None:
            # One write: the reply's chunk, then the zero-length chunk that ends the body.
            reply = b"".join(burst) + b"data: [DONE]\n\n"
            self._write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(reply), reply), framed=True)
            return
        self._write(b"data: [DONE]\n\n")
        self._write(b"")  # The zero-length chunk ends the body.

    def _reset(self) -> None:
        """Close with RST: SO_LINGER 0, and the socket really closed now (the rfile's
        reference would otherwise keep it open until the handler returns)."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.server.track(self.connection, add=False)
        # wfile writes straight to the socket and holds no reference; BaseHTTPRequestHandler
        # still flushes it afterwards, so it stays open.
        self.rfile.close()
        self.connection.close()


def _split_characters(line: str) -> Iterator[bytes]:
    """The UTF-8 bytes of `line`, cut in the middle of every multi-byte character."""
    pending = bytearray()
    for char in line:
        encoded = char.encode()
        if len(encoded) == 1:
            pending += encoded
            continue
        pending += encoded[:1]
        yield bytes(pending)
        pending = bytearray(encoded[1:])
    if pending:
        yield bytes(pending)


def _count_words(messages: list[dict[str, Any]]) -> int:
    return sum(len(_content(m).split()) for m in messages)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # stop() must not wait for handlers that are hanging on purpose.
    block_on_close = False
    request_queue_size = 128

    def __init__(self, port: int, owner: FakeUpstream) -> None:
        self.owner = owner
        self.api_key = owner.api_key
        self.verbose = owner.verbose
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def record(self, request: RecordedRequest) -> None:
        with self.owner._lock:
            self.owner.requests.append(request)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class FakeUpstream:
    """An OpenAI-compatible server on 127.0.0.1 (port 0 picks a free port)."""

    def __init__(
        self,
        port: int = 0,
        *,
        api_key: str = "",
        verbose: bool = False,
        demo_delay_s: float = DEMO_DELAY_S,
        showcase: bool = False,
    ) -> None:
        self.port = port
        self.showcase = showcase
        self.api_key = api_key
        self.verbose = verbose
        self.demo_delay_s = demo_delay_s
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded POSTs to /v1/chat/completions, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/v1/chat/completions")]

    def start(self) -> FakeUpstream:
        self._server = _Server(self.port, self)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-upstream-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging handlers are woken and their connections closed."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until `count` requests are recorded (or fail after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
            time.sleep(0.01)
        with self._lock:
            return list(self.requests)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --- pytest fixtures --------------------------------------------------------------------

_SERVER = pytest.StashKey[FakeUpstream]()


def _session_server(config: pytest.Config) -> FakeUpstream:
    # Kept on the pytest config rather than in a session fixture so that importing
    # `fake_upstream` alone into a conftest is enough.
    server = config.stash.get(_SERVER, None)
    if server is None:
        server = FakeUpstream().start()
        config.stash[_SERVER] = server
        config.add_cleanup(server.stop)
    return server


@pytest.fixture(scope="session")
def fake_upstream_server(pytestconfig: pytest.Config) -> FakeUpstream:
    """The session's FakeUpstream, without clearing its recorded requests."""
    return _session_server(pytestconfig)


@pytest.fixture
def fake_upstream(pytestconfig: pytest.Config) -> FakeUpstream:
    """The session's FakeUpstream with its recorded requests cleared."""
    server = _session_server(pytestconfig)
    server.reset()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.upstream",
        description="A fake OpenAI-compatible model server on 127.0.0.1, for demos and tests.",
    )
    parser.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    parser.add_argument("--api-key", default="", help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    parser.add_argument(
        "--showcase", action="store_true", help="demo answers also show a table and math"
    )
    args = parser.parse_args(argv)
    server = FakeUpstream(
        args.port, api_key=args.api_key, verbose=not args.quiet, showcase=args.showcase
    ).start()
    print(f"Fake OpenAI-compatible upstream at {server.base_url}", flush=True)
    print(f"Try: OPENAI_API_BASE_URL={server.base_url} make run   (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
