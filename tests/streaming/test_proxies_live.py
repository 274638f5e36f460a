"""Outbound proxies end to end: a real daphne with HTTP_PROXY in its environment streams
/v1 chats to the fake upstream through a real CONNECT proxy; a provider of the admin with
its own SOCKS5 proxy (credentials in its URL) goes through that one instead.

One server for the module (each start is a few seconds): the env provider's model
`fake-model` and the admin provider's model `socks-model` share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.proxies import ConnectProxy, Socks5Proxy
from tests.servers import Daphne, app_env, copy_database, manage
from tests.upstream import FakeUpstream, expected_text

pytestmark = pytest.mark.slow

API_KEY = "sk-live-proxy-test-key-never-shown"
SOCKS_KEY = "sk-socks-provider-key-never-shown"

SETUP = """
import json
from django.contrib.auth import get_user_model
from accounts import api_tokens
from catalog.models import ChatModel, Provider
alice = get_user_model().objects.get(username="alice")
provider = Provider(name="socksy", base_url={base_url!r})
provider.set_api_key({key!r})
provider.set_proxy({proxy!r})
provider.save()
ChatModel.objects.create(provider=provider, model_id="socks-model", name="socks-model")
issued = api_tokens.create(user=alice, name="proxy", scopes=["chat", "models:read"])
print("TOKEN=" + json.dumps(issued.secret))
"""


class Live:
    def __init__(self, daphne: Daphne, token: str) -> None:
        self.daphne = daphne
        self.token = token

    def chat(self, model: str, tokens: int = 6) -> str:
        """A streamed /v1 chat; the text it streamed."""
        text = ""
        with (
            httpx.Client(base_url=self.daphne.url, timeout=20) as client,
            client.stream(
                "POST",
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {self.token}"},
                json={
                    "model": model,
                    "stream": True,
                    "messages": [{"role": "user", "content": f"hi [[fake tokens={tokens}]]"}],
                },
            ) as response,
        ):
            assert response.status_code == 200, response.read()
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[len("data: ") :])
                assert "error" not in chunk, chunk
                for choice in chunk.get("choices", []):
                    text += choice.get("delta", {}).get("content") or ""
        return text


@pytest.fixture(scope="module")
def proxies() -> Iterator[tuple[ConnectProxy, Socks5Proxy]]:
    with (
        ConnectProxy() as connect,
        Socks5Proxy(username="sock-user", password="s3cret p@ss") as socks,
    ):
        yield connect, socks  # type: ignore[misc]


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    static_root: Path,
    alices_database: Path,
    fake_upstream_server: FakeUpstream,
    proxies: tuple[ConnectProxy, Socks5Proxy],
) -> Iterator[Live]:
    connect, socks = proxies
    directory = tmp_path_factory.mktemp("proxied")
    env = app_env(
        directory,
        static_root,
        OPENAI_API_BASE_URL=fake_upstream_server.base_url,
        OPENAI_API_KEY=API_KEY,
        HTTP_PROXY=connect.url,
        LOG_LEVEL="DEBUG",
    )
    copy_database(alices_database, directory)
    script = SETUP.format(base_url=fake_upstream_server.base_url, key=SOCKS_KEY, proxy=socks.url)
    out = manage(env, "shell", "-c", script)
    token = json.loads(out.split("TOKEN=", 1)[1].strip())
    daphne = Daphne(env, directory / "daphne.log")
    try:
        yield Live(daphne, token)
    finally:
        daphne.stop()


def test_a_chat_streams_through_the_environments_connect_proxy(
    live: Live, proxies: tuple[ConnectProxy, Socks5Proxy], fake_upstream_server: FakeUpstream
):
    connect, socks = proxies
    before = len(connect.tunnels)
    assert live.chat("fake-model") == expected_text(6)
    upstream_port = fake_upstream_server.port
    assert connect.tunnels[before:] == [("127.0.0.1", upstream_port)]
    assert f"CONNECT 127.0.0.1:{upstream_port} HTTP/1.1".encode() in connect.received()
    assert socks.tunnels == []


def test_an_admin_providers_own_socks_proxy_beats_the_environments(
    live: Live, proxies: tuple[ConnectProxy, Socks5Proxy], fake_upstream_server: FakeUpstream
):
    connect, socks = proxies
    tunnels = len(connect.tunnels)
    assert live.chat("socks-model", tokens=4) == expected_text(4)
    assert socks.tunnels == [("127.0.0.1", fake_upstream_server.port)]
    assert len(connect.tunnels) == tunnels  # not through the environment's proxy
    # The provider's key reached the upstream, through the tunnel.
    keys = [r.headers.get("authorization") for r in fake_upstream_server.chat_requests]
    assert f"Bearer {SOCKS_KEY}" in keys


def test_no_key_and_no_proxy_password_in_the_proxies_logs_or_the_servers(
    live: Live, proxies: tuple[ConnectProxy, Socks5Proxy]
):
    live.chat("fake-model", tokens=2)
    live.chat("socks-model", tokens=2)
    for proxy in proxies:
        received = proxy.received()
        assert received  # they did receive requests
        assert API_KEY.encode() not in received
        assert SOCKS_KEY.encode() not in received
    log = live.daphne.log_path.read_text()
    for secret in (API_KEY, SOCKS_KEY, "s3cret p@ss", "s3cret%20p%40ss"):
        assert secret not in log
