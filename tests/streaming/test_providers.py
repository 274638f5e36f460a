"""The OpenAI-compatible client against a real local server over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import httpx
import pytest
import pytest_asyncio

from modelclient import providers
from modelclient.providers import (
    ChatMessage,
    Delta,
    NotConfigured,
    OpenAICompatible,
    ProviderConfig,
    UpstreamDisconnected,
    UpstreamHTTPError,
    UpstreamRateLimited,
    UpstreamStreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
    aclose_clients,
    get_client,
)
from tests.upstream import FakeUpstream, expected_text, token_text

pytestmark = pytest.mark.asyncio

MODEL = "fake-model"


@pytest_asyncio.fixture(autouse=True)
async def close_shared_client():
    yield
    await aclose_clients()


def provider(base_url: str, *, api_key: str = "", timeout_s: float = 5.0) -> OpenAICompatible:
    return OpenAICompatible(ProviderConfig(base_url=base_url, api_key=api_key, timeout_s=timeout_s))


def ask(text: str) -> list[ChatMessage]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


async def collect(client: OpenAICompatible, messages: list[ChatMessage], into: list[Delta]) -> str:
    async for delta in client.stream_chat(model=MODEL, messages=messages):
        into.append(delta)
    return "".join(d.text for d in into)


async def test_it_streams_the_tokens_in_order(fake_upstream):
    deltas: list[Delta] = []

    text = await collect(provider(fake_upstream.base_url), ask("[[fake tokens=12]]"), deltas)

    assert text == expected_text(12)
    assert [d.text for d in deltas if d.text] == [token_text(i) for i in range(12)]
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
    (request,) = fake_upstream.chat_requests
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_usage": True}
    assert request.json["model"] == MODEL
    assert "authorization" not in request.headers


async def test_it_reports_usage(fake_upstream):
    deltas: list[Delta] = []

    await collect(provider(fake_upstream.base_url), ask("one two [[fake tokens=5]]"), deltas)

    usages = [d.usage for d in deltas if d.usage]
    assert usages == [{"prompt_tokens": 6, "completion_tokens": 5, "total_tokens": 11}]


async def test_it_reports_a_reply_cut_by_length_and_its_continuation(fake_upstream):
    client = provider(fake_upstream.base_url)
    first: list[Delta] = []
    messages = ask("[[fake tokens=3 length_rounds=1]]")

    await collect(client, messages, first)
    continued: list[Delta] = []
    messages += [
        {"role": "assistant", "content": expected_text(3)},
        {"role": "user", "content": "continue"},
    ]
    text = await collect(client, messages, continued)

    assert [d.finish_reason for d in first if d.finish_reason] == ["length"]
    assert [d.finish_reason for d in continued if d.finish_reason] == ["stop"]
    assert text == expected_text(3, round=1)


async def test_it_sends_the_key_as_a_bearer_token():
    with FakeUpstream(api_key="sk-right-key") as upstream:
        text = await collect(
            provider(upstream.base_url, api_key="sk-right-key"), ask("[[fake tokens=2]]"), []
        )

        assert text == expected_text(2)
        assert upstream.chat_requests[0].headers["authorization"] == "Bearer sk-right-key"


async def test_it_explains_an_http_error(fake_upstream):
    with pytest.raises(UpstreamHTTPError) as caught:
        await collect(provider(fake_upstream.base_url), ask("[[fake status=500]]"), [])

    assert caught.value.status == 500
    assert caught.value.code == "upstream_http_error"
    assert str(caught.value) == "The model server answered HTTP 500: Fake upstream failure (500)"
    assert caught.value.message == str(caught.value)


async def test_a_429_says_when_to_try_again(fake_upstream):
    with pytest.raises(UpstreamRateLimited) as caught:
        await collect(
            provider(fake_upstream.base_url), ask("[[fake status=429 retry_after=20]]"), []
        )

    assert caught.value.status == 429
    assert caught.value.code == "upstream_rate_limited"
    assert caught.value.retry_after == 20
    assert "Try again in 20 s." in caught.value.message


async def test_a_429_without_retry_after_has_none(fake_upstream):
    with pytest.raises(UpstreamRateLimited) as caught:
        await collect(provider(fake_upstream.base_url), ask("[[fake status=429]]"), [])

    assert caught.value.retry_after is None
    assert "rate limiting" in caught.value.message


async def test_a_garbage_line_never_shows_a_piece_of_the_key(fake_upstream):
    # The key starts at offset 60 of the non-JSON line: cutting to 80 characters before
    # scrubbing showed its first 20 characters.
    key = "sk-canary-0123456789abcdefghijklmnopqrstuvwxyz"
    client = provider(fake_upstream.base_url, api_key=key)
    with pytest.raises(UpstreamStreamError) as caught:
        await collect(client, ask("[[fake echo_key=garbage]]"), [])

    assert "not a reply" in caught.value.message
    assert "***" in caught.value.message
    assert key[:12] not in caught.value.message


async def test_it_never_repeats_the_key_the_server_echoes():
    wrong_key = "sk-wrong-0123456789abcdef"
    with FakeUpstream(api_key="sk-right-key") as upstream:
        with pytest.raises(UpstreamHTTPError) as caught:
            await collect(provider(upstream.base_url, api_key=wrong_key), ask("hi"), [])

        assert caught.value.status == 401
        # The server did echo the key back; the client scrubbed it.
        assert "Incorrect API key provided: ***" in str(caught.value)
        assert wrong_key not in str(caught.value)
        assert wrong_key not in repr(caught.value)
        assert wrong_key not in repr(ProviderConfig(upstream.base_url, wrong_key, 1.0))


async def test_it_times_out_when_the_server_never_answers(fake_upstream):
    # The server never answers (until HANDLER_LIMIT_S, a minute): the timeout is what ends
    # the wait, which UpstreamTimeout and its 0.5 s say (no clock needed).
    with pytest.raises(UpstreamTimeout) as caught:
        await collect(
            provider(fake_upstream.base_url, timeout_s=0.5), ask("[[fake hang=headers]]"), []
        )

    assert fake_upstream.chat_requests[-1].tokens_sent == 0
    assert str(caught.value) == "No response from the model for 0.5 s."
    assert caught.value.code == "upstream_timeout"


async def test_it_times_out_when_the_server_falls_silent_mid_reply(fake_upstream):
    deltas: list[Delta] = []

    with pytest.raises(UpstreamTimeout):
        await collect(
            provider(fake_upstream.base_url, timeout_s=0.5), ask("[[fake hang_after=2]]"), deltas
        )

    assert "".join(d.text for d in deltas) == expected_text(2)


async def test_the_timeout_bounds_silence_not_the_length_of_a_reply(fake_upstream):
    started = time.monotonic()

    text = await collect(
        provider(fake_upstream.base_url, timeout_s=0.5),
        ask("[[fake tokens=40 delay=0.05]]"),
        [],
    )

    assert text == expected_text(40)
    assert time.monotonic() - started > 1.5  # It did outlast the timeout several times.


@pytest.mark.parametrize("how", ["drop_after", "reset_after", "end_after"])
async def test_a_broken_stream_is_reported_at_once(fake_upstream, how):
    deltas: list[Delta] = []
    started = time.monotonic()

    with pytest.raises(UpstreamDisconnected) as caught:
        await collect(
            provider(fake_upstream.base_url, timeout_s=30),
            ask(f"[[fake tokens=10 delay=0.05 {how}=5]]"),
            deltas,
        )

    # Five tokens take 4 x 0.05 s; the break must not wait out the 30 s timeout (half of
    # it is a bound no loaded machine reaches, and no wait for the timeout stays under).
    assert time.monotonic() - started < 30 / 2
    assert "".join(d.text for d in deltas) == expected_text(5)
    assert caught.value.code == "upstream_disconnected"


async def test_an_error_event_in_the_stream_is_reported(fake_upstream):
    deltas: list[Delta] = []

    with pytest.raises(UpstreamStreamError) as caught:
        await collect(provider(fake_upstream.base_url), ask("[[fake error_event_after=3]]"), deltas)

    assert "Fake stream error" in str(caught.value)
    assert "".join(d.text for d in deltas) == expected_text(3)


async def test_multibyte_characters_split_across_reads_arrive_intact(fake_upstream):
    text = await collect(provider(fake_upstream.base_url), ask("[[fake cjk=1 tokens=20]]"), [])

    assert text == expected_text(20, cjk=True)
    assert "🙂" in text


async def test_cancelling_the_consumer_closes_the_upstream_request(fake_upstream):
    client = provider(fake_upstream.base_url)
    three_deltas = asyncio.Event()
    deltas: list[Delta] = []

    async def consume() -> None:
        async for delta in client.stream_chat(
            model=MODEL, messages=ask("[[fake tokens=400 delay=0.05]]")
        ):
            deltas.append(delta)
            if len(deltas) == 3:
                three_deltas.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(three_deltas.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    (request,) = fake_upstream.chat_requests
    await wait_until(lambda: request.client_disconnected, within=2)
    assert request.tokens_sent < 20
    assert await asyncio.to_thread(request.finished.wait, 2)


async def test_closing_the_stream_early_closes_the_upstream_request(fake_upstream):
    client = provider(fake_upstream.base_url)
    stream = client.stream_chat(model=MODEL, messages=ask("[[fake tokens=400 delay=0.05]]"))

    async with contextlib.aclosing(stream):
        async for delta in stream:
            if delta.text:
                break

    (request,) = fake_upstream.chat_requests
    await wait_until(lambda: request.client_disconnected, within=2)
    assert request.tokens_sent < 20


async def test_it_says_what_to_configure_without_a_server():
    with pytest.raises(NotConfigured) as caught:
        await collect(provider(""), ask("hi"), [])

    assert "OPENAI_API_KEY" in str(caught.value)
    assert "OPENAI_API_BASE_URL" in str(caught.value)
    assert caught.value.code == "not_configured"
    with pytest.raises(NotConfigured):
        await provider("").complete(model=MODEL, messages=ask("hi"))


async def test_a_closed_port_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(UpstreamUnreachable) as caught:
        await collect(provider(f"http://127.0.0.1:{port}/v1"), ask("hi"), [])

    assert f"http://127.0.0.1:{port}" in str(caught.value)
    assert caught.value.code == "upstream_unreachable"


async def test_complete_returns_the_text(fake_upstream):
    client = provider(fake_upstream.base_url)

    title = await client.complete(model=MODEL, messages=ask("Plan a trip to Kyoto in spring"))

    assert title == "Title: Plan a trip to"
    assert fake_upstream.chat_requests[0].json["max_tokens"] == 30
    assert fake_upstream.chat_requests[0].json["stream"] is False


async def test_complete_explains_an_http_error(fake_upstream):
    with pytest.raises(UpstreamHTTPError, match="HTTP 503: Fake upstream failure"):
        await provider(fake_upstream.base_url).complete(
            model=MODEL, messages=ask("[[fake status=503]]")
        )


async def test_a_client_passed_in_is_used_and_left_open(fake_upstream):
    async with httpx.AsyncClient() as own:
        client = OpenAICompatible(ProviderConfig(fake_upstream.base_url, "", 5.0), client=own)
        assert await collect(client, ask("[[fake tokens=2]]"), []) == expected_text(2)
        assert not own.is_closed


async def test_one_shared_client_per_event_loop():
    assert get_client() is get_client()
    await aclose_clients()
    assert not get_client().is_closed


async def test_more_answers_than_the_old_pool_limit_stream_at_once(fake_upstream):
    """Each streaming answer holds its connection; with no limit set, none waits for one.

    (The shared client used to allow 100 connections: the 101st answer waited 10 s and
    failed with "No connection to the model server was free".)
    """
    client = provider(fake_upstream.base_url)

    async def answer(i: int) -> None:
        async for _ in client.stream_chat(
            model=MODEL, messages=ask(f"[[fake tokens=60 delay=1]] {i}")
        ):
            pass  # Held open until the end or the cancel below.

    tasks = [asyncio.create_task(answer(i)) for i in range(130)]
    try:
        await wait_until(lambda: len(fake_upstream.chat_requests) == 130, within=20)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_connection_limit_makes_the_extra_answer_wait(fake_upstream, monkeypatch):
    await aclose_clients()
    monkeypatch.setattr(providers, "max_connections", 2)
    limited = provider(fake_upstream.base_url)

    async def answer(i: int) -> None:
        async for _ in limited.stream_chat(
            model=MODEL, messages=ask(f"[[fake tokens=3 delay=1.5]] {i}")
        ):
            pass

    tasks = [asyncio.create_task(answer(i)) for i in range(3)]
    try:
        await wait_until(lambda: len(fake_upstream.chat_requests) == 2, within=5)
        await asyncio.sleep(0.3)
        assert len(fake_upstream.chat_requests) == 2
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_setting_sets_the_limit(settings):
    """UPSTREAM_MAX_CONNECTIONS=0 (the default) is no limit."""
    assert settings.UPSTREAM_MAX_CONNECTIONS == 0
    assert providers.max_connections is None


async def wait_until(condition, *, within: float) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- The reply's bytes, parsed by the client itself (providers.LineSplitter) ------------


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
async def test_lines_are_the_same_however_the_bytes_are_cut(newline):
    lines = [b'data: {"a": "\xe4\xbd\xa0\xe5\xa5\xbd"}', b"", b": keep-alive", b"", b"data: x", b""]
    body = newline.join(lines) + newline
    for cut in range(len(body) + 1):
        splitter = providers.LineSplitter()
        got = splitter.feed(body[:cut]) + splitter.feed(body[cut:])
        if newline == b"\r":  # the last \r waits for a \n that may follow it; none does
            assert splitter.rest == b"\r"
            got += splitter.feed(b"\n")
        assert got == lines, cut
        assert splitter.rest == b""


async def raw_reply(body: bytes, *, headers: bytes = b"") -> tuple[asyncio.Server, str]:
    """A server that answers any request with this body in one write (chunked HTTP/1.1)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line[15:])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" + headers
            + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        )  # fmt: skip
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


def sse(*events: bytes) -> bytes:
    return b"".join(b"data: %s\n\n" % e for e in events)


async def test_text_before_an_error_in_the_same_read_is_delivered_first():
    body = sse(b'{"choices":[{"delta":{"content":"kept"}}]}', b'{"error":{"message":"boom"}}')
    server, url = await raw_reply(body)
    deltas: list[Delta] = []
    async with server:
        with pytest.raises(UpstreamStreamError, match="boom"):
            await collect(provider(url), ask("hi"), deltas)
    assert [d.text for d in deltas] == ["kept"]


async def test_a_body_whose_last_line_has_no_break_still_ends_the_reply():
    body = sse(b'{"choices":[{"delta":{"content":"all"}}]}') + b"data: [DONE]"
    server, url = await raw_reply(body)
    async with server:
        assert await collect(provider(url), ask("hi"), []) == "all"


async def test_a_compressed_reply_is_decompressed():
    import gzip

    body = gzip.compress(
        sse(b'{"choices":[{"delta":{"content":"zipped"},"finish_reason":"stop"}]}', b"[DONE]")
    )
    server, url = await raw_reply(body, headers=b"Content-Encoding: gzip\r\n")
    async with server:
        assert await collect(provider(url), ask("hi"), []) == "zipped"
