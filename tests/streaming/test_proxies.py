"""Model traffic through real local proxies (tests/proxies.py): the client, the socket's
answers and titles, the refusals the chat explains, and the key kept from the proxy."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_asyncio

from conversations.models import Message
from modelclient.netio import AsyncioStream
from modelclient.providers import (
    ChatMessage,
    OpenAICompatible,
    ProviderConfig,
    UpstreamProxyError,
    aclose_clients,
    get_client,
)
from modelclient.proxies import EnvironmentProxies, NoProxy, ProxyURL, parse_proxy_url
from tests.conftest import frames_until, is_done
from tests.proxies import ConnectProxy, Socks5Proxy
from tests.upstream import FakeUpstream, expected_text

KEY = "sk-proxied-key-never-in-a-proxy-log"
PASSWORD = "pr0xy p@ss:word"


@pytest.fixture
def connect_proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as proxy:
        yield proxy  # type: ignore[misc]


@pytest.fixture
def socks_proxy() -> Iterator[Socks5Proxy]:
    with Socks5Proxy() as proxy:
        yield proxy  # type: ignore[misc]


@pytest_asyncio.fixture
async def closing_clients():
    yield
    await aclose_clients()


def client(upstream: FakeUpstream, proxy: str | None) -> OpenAICompatible:
    return OpenAICompatible(
        ProviderConfig(
            base_url=upstream.base_url,
            api_key=KEY,
            timeout_s=5,
            proxy=parse_proxy_url(proxy) if proxy else None,
        )
    )


def ask(tokens: int) -> list[ChatMessage]:
    return [{"role": "user", "content": f"[[fake tokens={tokens}]]"}]


async def streamed(chat: OpenAICompatible, tokens: int = 5) -> str:
    return "".join(
        [d.text async for d in chat.stream_chat(model="fake-model", messages=ask(tokens))]
    )


PROXIES = [ConnectProxy, Socks5Proxy]


# --- The client -------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", PROXIES)
async def test_a_reply_streams_through_the_proxy_in_a_tunnel(
    kind, fake_upstream: FakeUpstream, closing_clients, caplog
):
    caplog.set_level(logging.DEBUG)
    with kind() as proxy:
        chat = client(fake_upstream, proxy.url)
        assert await streamed(chat, 7) == expected_text(7)
        title = await chat.complete(model="fake-model", messages=ask(1))

    assert title.startswith("Title:")
    assert proxy.tunnels == [("127.0.0.1", fake_upstream.port)]  # one connection, kept alive
    # The proxy saw where to, never what: the key went inside the tunnel only.
    assert proxy.received()
    assert KEY.encode() not in proxy.received()
    assert b"Authorization" not in proxy.received()
    assert [r.headers["authorization"] for r in fake_upstream.requests] == [f"Bearer {KEY}"] * 2
    assert KEY not in caplog.text


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", PROXIES)
async def test_credentials_right_and_wrong(kind, fake_upstream: FakeUpstream, closing_clients):
    with kind(username="chat web", password=PASSWORD) as proxy:
        assert await streamed(client(fake_upstream, proxy.url)) == expected_text(5)
        wrong = proxy.url.replace("ss%3Aword", "ss%3Awrong")
        assert wrong != proxy.url
        with pytest.raises(UpstreamProxyError) as refused:
            await streamed(client(fake_upstream, wrong))
        with pytest.raises(UpstreamProxyError) as none_given:
            await streamed(client(fake_upstream, f"{proxy.scheme}://{proxy.address}"))

    assert proxy.tunnels == [("127.0.0.1", fake_upstream.port)]
    assert refused.value.code == "upstream_proxy"
    assert "refused the credentials" in refused.value.message
    assert "wants credentials" in none_given.value.message or "it wants a user name" in (
        none_given.value.message
    )
    for error in (refused.value, none_given.value):
        # The proxy is named, never with its credentials.
        assert f"{proxy.scheme}://" in error.message
        for secret in ("ss:w", "ss%3Aw", "chat web", "chat%20web"):
            assert secret not in error.message
    assert len(fake_upstream.chat_requests) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (ConnectProxy, "refused the tunnel (CONNECT 127.0.0.1:"),
        (Socks5Proxy, "connection not allowed by ruleset"),
    ],
)
async def test_a_proxy_that_refuses_is_an_upstream_proxy_error(
    kind, words, fake_upstream: FakeUpstream, closing_clients
):
    with kind(refuse=True) as proxy:
        with pytest.raises(UpstreamProxyError) as caught:
            await streamed(client(fake_upstream, proxy.url))
        assert proxy.refused == 1
    assert caught.value.code == "upstream_proxy"
    assert words in caught.value.message
    assert proxy.address in caught.value.message
    assert fake_upstream.requests == []


@pytest.mark.asyncio
async def test_a_proxy_that_is_not_there_is_an_upstream_proxy_error(
    fake_upstream: FakeUpstream, closing_clients
):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(UpstreamProxyError) as caught:
        await streamed(client(fake_upstream, f"http://127.0.0.1:{port}"))
    assert f"could not connect to the proxy http://127.0.0.1:{port}" in caught.value.message


@pytest.mark.asyncio
async def test_a_proxied_reply_is_read_on_our_own_transport(
    connect_proxy: ConnectProxy, fake_upstream: FakeUpstream, closing_clients
):
    """The tunnel is our AsyncioStream (modelclient/netio.py), not httpcore's anyio one."""
    proxy = parse_proxy_url(connect_proxy.url)
    http = get_client(proxy)
    async with http.stream("GET", f"{fake_upstream.base_url}/models") as response:
        assert response.status_code == 200
        assert isinstance(response.extensions["network_stream"], AsyncioStream)
    assert connect_proxy.tunnels == [("127.0.0.1", fake_upstream.port)]


@pytest.mark.asyncio
async def test_one_client_per_loop_and_proxy(closing_clients):
    first = parse_proxy_url("http://127.0.0.1:1")
    same = parse_proxy_url("http://127.0.0.1:1/")
    other = parse_proxy_url("socks5://127.0.0.1:1")
    assert get_client(first) is get_client(same)
    assert get_client(first) is not get_client(other)
    assert get_client() is not get_client(first)
    assert get_client(None) is get_client()


# --- Through the app: the socket's answer, its title, the stored error ------------------------


def through(proxy: ProxyURL | None, no_proxy: str = "") -> EnvironmentProxies:
    return EnvironmentProxies(http=proxy, https=proxy, no_proxy=NoProxy.parse(no_proxy))


async def answer_of(
    connect: Any, alice: Any, conversation: Any, text: str, *, titled: bool = False
) -> dict[str, Any]:
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": text})
    frames = await frames_until(socket, is_done)
    done: dict[str, Any] = frames[-1]["message"]
    if titled:  # the model-made title comes after the answer's end
        await frames_until(socket, lambda f: f["type"] == "title" and "[[" not in f["title"])
    return done


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_answer_and_its_title_go_through_the_environments_proxy(
    connect, alice, conversation, upstream: FakeUpstream, socks_proxy: Socks5Proxy, settings
):
    settings.UPSTREAM_PROXIES = through(parse_proxy_url(socks_proxy.url))
    settings.AUTO_TITLE = True

    done = await answer_of(connect, alice, conversation, "[[fake tokens=9]] hello", titled=True)

    assert done["status"] == "done"
    assert done["content"] == expected_text(9)
    assert [r.json["stream"] for r in upstream.requests] == [True, False]  # answer, title
    assert len(socks_proxy.tunnels) >= 1
    assert set(socks_proxy.tunnels) == {("127.0.0.1", upstream.port)}
    assert settings.OPENAI_API_KEY.encode() not in socks_proxy.received()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "*", "127.0.0.0/8", "localhost,127.0.0.1:{port}"]
)
async def test_no_proxy_sends_the_answer_straight_to_the_server(
    no_proxy, connect, alice, conversation, upstream: FakeUpstream, connect_proxy, settings
):
    rule = no_proxy.format(port=upstream.port)
    settings.UPSTREAM_PROXIES = through(parse_proxy_url(connect_proxy.url), rule)

    done = await answer_of(connect, alice, conversation, "[[fake tokens=3]]")

    assert done["content"] == expected_text(3)
    assert connect_proxy.log == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_no_proxy_for_another_port_still_proxies(
    connect, alice, conversation, upstream: FakeUpstream, connect_proxy, settings
):
    settings.UPSTREAM_PROXIES = through(parse_proxy_url(connect_proxy.url), "127.0.0.1:1")
    done = await answer_of(connect, alice, conversation, "[[fake tokens=3]]")
    assert done["content"] == expected_text(3)
    assert connect_proxy.tunnels == [("127.0.0.1", upstream.port)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_refusing_proxy_ends_the_answer_with_upstream_proxy(
    connect, alice, conversation, upstream: FakeUpstream, settings, caplog
):
    caplog.set_level(logging.DEBUG)
    with ConnectProxy(username="u", password=PASSWORD, refuse=True) as proxy:
        settings.UPSTREAM_PROXIES = through(parse_proxy_url(proxy.url))
        done = await answer_of(connect, alice, conversation, "[[fake tokens=3]]")

    assert done["status"] == "error"
    assert done["error_code"] == "upstream_proxy"
    assert f"the proxy http://***@{proxy.address} refused the tunnel" in done["error"]
    answer = await Message.objects.aget(pk=done["id"])
    assert answer.error_code == "upstream_proxy"
    for text in (answer.error, caplog.text):
        for secret in (PASSWORD, "p%40ss", settings.OPENAI_API_KEY):
            assert secret not in text
    assert upstream.requests == []
