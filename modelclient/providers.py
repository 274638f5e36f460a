"""The OpenAI-compatible chat client: the one place that talks HTTP to a model server.

It knows nothing of Django. The generation service builds a ProviderConfig from settings
(or from a provider configured in the admin) and turns the ProviderError it may raise into
the message shown in the chat, using the error's stable `code`.

Any server that speaks OpenAI's /v1/chat/completions works (OpenAI, Ollama, vLLM,
llama.cpp's server, LM Studio, DeepSeek, ...). Replies are streamed as server-sent events
and parsed line by line; `TIMEOUT_MS` bounds the model's *silence*, never the length of a
reply that keeps flowing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import logging
import math
import weakref
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple, NotRequired, TypedDict
from urllib.parse import urlsplit

import httpx

from modelclient.netio import AsyncioTransport
from modelclient.proxies import ProxyURL

logger = logging.getLogger(__name__)

# Connecting, sending the request and waiting for a free pooled connection are quick on
# any healthy network; only the model's silence is governed by the configured timeout.
CONNECT_TIMEOUT_S = 10.0
# An error body is read only this far: it is for a readable message, not for storage.
ERROR_BODY_LIMIT = 4096
# A non-streamed completion (a title) is small; a larger body is not what we asked for.
COMPLETION_BODY_LIMIT = 1_000_000
# Upstream error texts are cut to this length before they reach the chat.
MESSAGE_LIMIT = 500


class TextPart(TypedDict):
    """A piece of text in a message's content parts (OpenAI's "text" part)."""

    type: Literal["text"]
    text: str


class ImageURL(TypedDict):
    # A data URL (data:image/png;base64,...): Chatweb never sends a link to fetch.
    url: str
    detail: NotRequired[Literal["auto", "low", "high"]]


class ImagePart(TypedDict):
    """An image in a message's content parts (OpenAI's "image_url" part)."""

    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = TextPart | ImagePart


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    # Plain text, or (a user message with images) OpenAI's content parts.
    content: str | list[ContentPart]


def has_images(messages: list[ChatMessage]) -> bool:
    """Whether any of `messages` has an image part."""
    return any(
        not isinstance(m["content"], str) and any(p["type"] == "image_url" for p in m["content"])
        for m in messages
    )


def text_of(content: str | list[ContentPart]) -> str:
    """The text of a message's content: its text parts joined, images left out."""
    if isinstance(content, str):
        return content
    return "\n\n".join(part["text"] for part in content if part["type"] == "text")


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    # Of completion_tokens, those a reasoning model spent thinking, when the server says
    # (usage.completion_tokens_details.reasoning_tokens).
    reasoning_tokens: NotRequired[int]


class Delta(NamedTuple):
    """One piece of a streamed reply: new text, and/or how it ended, and/or its usage.

    A NamedTuple, not a frozen dataclass: one is made per token, and a frozen
    dataclass's __init__ costs several times more.
    """

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    # A reasoning model's thinking, sent apart from the answer: `reasoning_content`
    # (DeepSeek, vLLM, llama.cpp) or `reasoning` (OpenRouter, Ollama) in the delta.
    # Thinking inside <think> tags in `text` is split out later (streaming.thinking).
    reasoning: str = ""


class _ReplyParser:
    """A streamed chat reply's server-sent events, line by line (LineSplitter makes the
    lines): the Delta a line carries, if any. `done` once `data: [DONE]` is read."""

    __slots__ = ("done", "event", "provider")

    def __init__(self, provider: OpenAICompatible) -> None:
        self.provider = provider
        self.event = b""
        self.done = False

    def line(self, line: bytes) -> Delta | None:
        if not line:
            self.event = b""  # A blank line ends a server-sent event.
            return None
        if line.startswith(b"event:"):
            self.event = line[len(b"event:") :].strip()
            return None
        if not line.startswith(b"data:"):
            return None  # Comments (": keep-alive") and fields we do not use.
        data = line[len(b"data:") :].strip()
        if data == b"[DONE]":
            self.done = True
            return None
        provider = self.provider
        payload = provider._decode(data.decode("utf-8", errors="replace"))
        if self.event == b"error" or payload.get("error"):
            raise UpstreamStreamError(
                provider._clean(
                    "The model server reported an error: "
                    + _error_text(payload, default="(no message)")
                )
            )
        return _delta_from_chunk(payload)


class LineSplitter:
    """Text lines from a byte stream: ended by \n, \r\n or \r, as SSE defines them.

    feed() returns the lines a chunk completes (without their breaks); an unfinished
    line waits in `rest` for the next chunk (a \r, too: a \n may follow it).
    """

    __slots__ = ("rest",)

    def __init__(self) -> None:
        self.rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self.rest + chunk if self.rest else chunk
        if not data:
            return []
        lines = data.splitlines()  # bytes split on \n, \r and \r\n only
        end = data[-1]
        if end == 13:  # \r: the line is complete, but its break may be half of \r\n
            self.rest = lines.pop() + b"\r"
        elif end == 10:
            self.rest = b""
        else:
            self.rest = lines.pop()
        return lines


@dataclass(frozen=True)
class ProviderConfig:
    """Where the model server is. `base_url` already ends in /v1 (settings validate it)."""

    base_url: str
    # Kept out of repr() so a config that ends up in a log or a traceback shows no key.
    api_key: str = field(repr=False)
    timeout_s: float
    # Extra headers an admin set on the provider (catalog.models.Provider.extra_headers).
    headers: tuple[tuple[str, str], ...] = ()
    # The proxy requests go through (catalog.config chooses it: the provider's own, or the
    # environment's for this base URL); None is straight to the server. Out of repr():
    # it may hold the proxy's credentials.
    proxy: ProxyURL | None = field(default=None, repr=False)


class ProviderError(Exception):
    """A failure the chat can explain. `message` is readable and never contains the key."""

    code: ClassVar[str] = "upstream_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotConfigured(ProviderError):
    code = "not_configured"


class UpstreamHTTPError(ProviderError):
    code = "upstream_http_error"

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        # Seconds the server asked us to wait (its Retry-After), when it said.
        self.retry_after = retry_after


class UpstreamRateLimited(UpstreamHTTPError):
    """HTTP 429: the model server refuses for now; `retry_after` says for how long."""

    code = "upstream_rate_limited"


class UpstreamTimeout(ProviderError):
    code = "upstream_timeout"


class UpstreamDisconnected(ProviderError):
    code = "upstream_disconnected"


class UpstreamStreamError(ProviderError):
    code = "upstream_stream_error"


class UpstreamUnreachable(ProviderError):
    code = "upstream_unreachable"


class UpstreamProxyError(ProviderError):
    """The proxy between us and the model server failed: unreachable, refused the tunnel,
    wanted (other) credentials."""

    code = "upstream_proxy"


NOT_CONFIGURED_MESSAGE = (
    "No model server is configured. Set OPENAI_API_KEY in .env (and OPENAI_API_BASE_URL "
    "as well for a server other than OpenAI, for example http://localhost:11434/v1 for "
    "Ollama), then restart Chatweb."
)

# httpx's connection pool belongs to the event loop that created it, and Django runs
# async code on more than one loop (async_to_sync makes its own; each test has one), so
# there is one long-lived client per running loop and proxy (None: direct), whose pools
# hold only connections through that proxy. Weak keys let a finished loop's entry go away
# with the loop.
_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[ProxyURL | None, httpx.AsyncClient]
] = weakref.WeakKeyDictionary()


# Connections the process may hold open to model servers at once; None is no limit (the
# default). Each streaming answer holds one for its whole length, so a limit below the
# number of answers streaming at once makes the others wait and fail after
# CONNECT_TIMEOUT_S. The app sets it from UPSTREAM_MAX_CONNECTIONS at start-up
# (streaming/apps.py); it applies to clients created after that.
max_connections: int | None = None
# Idle connections kept for the next reply (each closes after httpx's 5 s keep-alive
# expiry anyway); the limit on connections in use is the caller's.
KEEPALIVE_CONNECTIONS = 20


def get_client(proxy: ProxyURL | None = None) -> httpx.AsyncClient:
    """The shared AsyncClient of the running event loop for `proxy` (None: direct),
    created on first use (with the `max_connections` of that moment)."""
    loop = asyncio.get_running_loop()
    clients = _clients.setdefault(loop, {})
    client = clients.get(proxy)
    if client is None or client.is_closed:
        client = new_client(proxy)
        clients[proxy] = client
    return client


def new_client(proxy: ProxyURL | None = None) -> httpx.AsyncClient:
    """An AsyncClient on our transport, through `proxy` if given (the caller closes it)."""
    keepalive = KEEPALIVE_CONNECTIONS
    if max_connections is not None:
        keepalive = min(keepalive, max_connections)
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(CONNECT_TIMEOUT_S),
        # asyncio's own sockets and TLS under httpx (modelclient/netio.py says why).
        # A transport of our own means httpx reads no proxy from the environment:
        # the proxy is the config's (settings read the environment's, catalog.config
        # chooses), so the probe, titles and answers all go the same way.
        transport=AsyncioTransport(limits=limits, proxy=proxy),
        headers={"User-Agent": "chatweb"},
        trust_env=False,
    )


async def aclose_clients() -> None:
    """Close the running loop's shared clients (at shutdown, and after each test)."""
    clients = _clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.aclose()


class OpenAICompatible:
    """A chat client for one OpenAI-compatible server.

    `stream_chat` is an async generator. Closing it (`aclose()`, `contextlib.aclosing`) or
    cancelling the task that iterates it closes the HTTP response and its connection, so
    the upstream stops generating: that is what makes Stop save tokens. A caller that may
    leave the loop early should wrap it in `contextlib.aclosing` so the close happens at
    once rather than when the generator is garbage-collected.
    """

    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._client = client

    async def stream_chat(
        self,
        *,
        model: str,
        messages: list[ChatMessage],
        options: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[Delta, None]:
        """Yield the reply as it arrives; raise a ProviderError if it cannot be completed.

        A reply ends normally at `data: [DONE]`, or when the body ends after a chunk that
        carried a finish_reason. Every other ending is an error: the text yielded so far
        is all there is. `options` (max_tokens, temperature, top_p) go into the request body
        as they are.
        """
        url = self._url("chat/completions")
        body: dict[str, Any] = {
            # max_tokens, temperature (catalog.config.ResolvedModel), the user's temperature
            # and top_p (accounts.models.UserSettings), combined by streaming.jobs.Job.options.
            **(options or {}),
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        saw_finish = False
        parser = _ReplyParser(self)
        try:
            async with self._http().stream(
                "POST",
                url,
                json=body,
                headers=self._headers(accept="text/event-stream"),
                timeout=self._timeout(),
            ) as response:
                if not response.is_success:
                    raise await self._http_error(response)
                # The body's chunks as they come, parsed here: httpx's aiter_lines()
                # stacks three generators (bytes, text, lines) on aiter_raw(), each stepped
                # once per token. Content-Encoding, if any, still goes through httpx.
                encoded = response.headers.get("content-encoding", "identity") != "identity"
                chunks = response.aiter_bytes() if encoded else response.aiter_raw()
                lines = LineSplitter()
                ended = False
                while not ended:
                    chunk = await anext(chunks, None)
                    if chunk is None:
                        # The body ended: its last line counts even without a line break.
                        ended, chunk = True, b"\n" if lines.rest else b""
                    # After [DONE] the rest of the body (normally just its end) is read
                    # and ignored, so the connection goes back to the pool for the next
                    # reply instead of being closed (openai-python drains it the same way).
                    if parser.done:
                        continue
                    for line in lines.feed(chunk):
                        delta = parser.line(line)
                        if delta is not None:
                            saw_finish = saw_finish or bool(delta.finish_reason)
                            yield delta
                        elif parser.done:
                            break
        except httpx.HTTPError as exc:
            # The reply is complete once [DONE] or a finish_reason has arrived; a
            # connection that fails after that loses nothing worth reporting.
            if parser.done or (saw_finish and isinstance(exc, httpx.TransportError)):
                logger.debug("Ignoring %s after the reply completed", type(exc).__name__)
                return
            raise self._translate(exc) from exc
        if not parser.done and not saw_finish:
            raise UpstreamDisconnected(
                "The model server ended the reply before it was complete. The text so far is kept."
            )

    async def complete(
        self, *, model: str, messages: list[ChatMessage], max_tokens: int = 30
    ) -> str:
        """A short, non-streamed completion (conversation titles); the text, stripped."""
        text, _ = await self.complete_with_usage(
            model=model, messages=messages, max_tokens=max_tokens
        )
        return text

    async def complete_with_usage(
        self, *, model: str, messages: list[ChatMessage], max_tokens: int = 30
    ) -> tuple[str, Usage | None]:
        """complete(), with the usage the server reported (None if it reported none)."""
        url = self._url("chat/completions")
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": False,
            "max_tokens": max_tokens,
        }
        try:
            async with self._http().stream(
                "POST",
                url,
                json=body,
                headers=self._headers(accept="application/json"),
                timeout=self._timeout(),
            ) as response:
                if not response.is_success:
                    raise await self._http_error(response)
                raw = await _read_bounded(response, COMPLETION_BODY_LIMIT)
        except httpx.HTTPError as exc:
            raise self._translate(exc) from exc
        payload = self._decode(raw.decode("utf-8", errors="replace"))
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise UpstreamStreamError("The model server's answer had no message text.")
        return content.strip(), _usage(payload.get("usage"))

    # --- helpers -------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        return self._client if self._client is not None else get_client(self.config.proxy)

    def _url(self, endpoint: str) -> str:
        if not self.config.base_url:
            raise NotConfigured(NOT_CONFIGURED_MESSAGE)
        return f"{self.config.base_url.rstrip('/')}/{endpoint}"

    def _headers(self, *, accept: str) -> dict[str, str]:
        headers = dict(self.config.headers)
        headers["Accept"] = accept
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=CONNECT_TIMEOUT_S,
            read=self.config.timeout_s,
            write=CONNECT_TIMEOUT_S,
            pool=CONNECT_TIMEOUT_S,
        )

    def _origin(self) -> str:
        """scheme://host[:port] of the server, for messages (never userinfo or a path)."""
        parts = urlsplit(self.config.base_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"

    def _scrub(self, text: str) -> str:
        """The text without the API key (an upstream may echo it)."""
        key = self.config.api_key
        return text.replace(key, "***") if key else text

    def _clean(self, text: str) -> str:
        """Scrub the API key out of a message, then bound it.

        Always in this order: cutting first could leave a piece of the key that no
        longer matches it whole.
        """
        text = " ".join(self._scrub(text).split())
        if len(text) > MESSAGE_LIMIT:
            text = text[: MESSAGE_LIMIT - 1] + "…"
        return text

    def _decode(self, data: str) -> dict[str, Any]:
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):
            payload = None
        if not isinstance(payload, dict):
            shown = self._scrub(data)[:80]
            raise UpstreamStreamError(
                self._clean(f"The model server sent something that is not a reply: {shown}")
            )
        return payload

    async def _http_error(self, response: httpx.Response) -> UpstreamHTTPError:
        try:
            raw = await _read_bounded(response, ERROR_BODY_LIMIT)
        except httpx.HTTPError:
            raw = b""
        text = raw.decode("utf-8", errors="replace")
        try:
            payload = json.loads(text)
        except ValueError:
            detail = text
        else:
            detail = _error_text(payload, default=text) if isinstance(payload, dict) else text
        status = response.status_code
        message = f"The model server answered HTTP {status}"
        detail = detail.strip()
        message += f": {detail}" if detail else f" {response.reason_phrase}."
        if status == 429:
            retry_after = _retry_after(response.headers.get("retry-after"))
            wait = f"Try again in {retry_after} s. " if retry_after is not None else ""
            return UpstreamRateLimited(
                status,
                self._clean(f"The model server is rate limiting requests. {wait}({message})"),
                retry_after=retry_after,
            )
        return UpstreamHTTPError(status, self._clean(message))

    def _translate(self, exc: httpx.HTTPError) -> ProviderError:
        """Map an httpx failure onto the small hierarchy the chat can explain."""
        origin = self._origin()
        proxy = self.config.proxy
        # Where the connection went: named in messages (the proxy without credentials).
        via = f" through the proxy {proxy.display}" if proxy is not None else ""
        if isinstance(exc, httpx.ProxyError):
            return UpstreamProxyError(
                self._clean(f"Could not reach the model server at {origin}: {exc}")
            )
        if isinstance(exc, httpx.ConnectTimeout):
            return UpstreamTimeout(
                f"The model server at {origin} did not accept a connection{via} within "
                f"{CONNECT_TIMEOUT_S:g} s."
            )
        if isinstance(exc, httpx.PoolTimeout):
            return UpstreamTimeout(
                f"No connection to the model server was free for {CONNECT_TIMEOUT_S:g} s."
            )
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamTimeout(f"No response from the model for {self.config.timeout_s:g} s.")
        if isinstance(exc, httpx.ConnectError):
            reason = str(exc) or type(exc).__name__
            return UpstreamUnreachable(
                self._clean(f"Could not reach the model server at {origin}{via}: {reason}")
            )
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return UpstreamDisconnected(
                "The connection to the model server broke before the reply was complete. "
                "The text so far is kept."
            )
        if isinstance(exc, httpx.TransportError):
            reason = str(exc) or type(exc).__name__
            return UpstreamUnreachable(
                self._clean(f"Could not talk to the model server at {origin}: {reason}")
            )
        if isinstance(exc, httpx.DecodingError):
            return UpstreamStreamError("The model server sent a reply that could not be decoded.")
        return ProviderError(self._clean(f"The request to the model server failed: {exc}"))


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    buffer = bytearray()
    async for chunk in response.aiter_bytes():
        buffer += chunk
        if len(buffer) >= limit:
            break
    return bytes(buffer[:limit])


def _retry_after(value: str | None) -> int | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(int(value), 86_400)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    seconds = math.ceil((when - dt.datetime.now(dt.UTC)).total_seconds())
    return min(max(seconds, 0), 86_400)


def _error_text(payload: dict[str, Any], *, default: str) -> str:
    """The message of an OpenAI-style error ({"error": {"message": ...}}) or a near variant."""
    error = payload.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    if isinstance(payload.get("message"), str):
        return str(payload["message"])
    if isinstance(payload.get("detail"), str):
        return str(payload["detail"])
    return default


def _delta_from_chunk(payload: dict[str, Any]) -> Delta | None:
    """The Delta in one chat.completion.chunk, or None if it carries nothing we use."""
    text = reasoning = ""
    finish_reason: str | None = None
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        delta = choice.get("delta")
        if isinstance(delta, dict):
            if isinstance(delta.get("content"), str):
                text = delta["content"]
            for key in REASONING_FIELDS:
                if isinstance(delta.get(key), str):
                    reasoning = delta[key]
                    break
        if isinstance(choice.get("finish_reason"), str):
            finish_reason = choice["finish_reason"]
    usage = _usage(payload.get("usage"))
    if not text and not reasoning and finish_reason is None and usage is None:
        return None
    return Delta(text, finish_reason, usage, reasoning)


# The delta fields servers put a reasoning model's thinking in, the first found wins.
REASONING_FIELDS = ("reasoning_content", "reasoning")


def _usage(raw: object) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    counts = {key: raw.get(key) for key in ("prompt_tokens", "completion_tokens", "total_tokens")}
    if not all(isinstance(value, int) for value in counts.values()):
        return None
    usage = Usage(
        prompt_tokens=int(raw["prompt_tokens"]),
        completion_tokens=int(raw["completion_tokens"]),
        total_tokens=int(raw["total_tokens"]),
    )
    details = raw.get("completion_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("reasoning_tokens"), int):
        usage["reasoning_tokens"] = int(details["reasoning_tokens"])
    return usage
