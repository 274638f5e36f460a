"""Model traffic through a proxy: a network backend whose every connection is a tunnel.

httpcore's pool asks its network backend for a connection to host:port. TunnelBackend
connects to the proxy instead (with the inner backend: netio's AsyncioBackend, so a
proxied reply is read on the same path as a direct one), asks the proxy for a tunnel to
host:port, and hands the pool the tunnelled stream. Everything above is unchanged: the
pool, keep-alive, TLS to the model server (start_tls on the tunnel) and HTTP/1.1.

Every request is tunnelled, to http:// servers too: an HTTP proxy is asked to CONNECT
rather than to forward the request, so the proxy never parses the request and its log
never holds the Authorization header (httpx and httpcore forward http:// requests; curl
tunnels them with --proxytunnel, chatgpt-web's https-proxy-agent always). A proxy that
allows CONNECT to port 443 only (Squid's default) then refuses an http:// server that is
not on 443, with a clear `upstream_proxy` error (docs/security.md, "Outbound proxies").

SOCKS5 (RFC 1928, with RFC 1929's username/password) uses socksio's sans-I/O messages;
the proxy resolves the server's name. The whole set-up (connecting to the proxy, TLS to
an https:// proxy, the tunnel's handshake) is bounded by the connect timeout.
"""

# The `timeout` parameters are httpcore's interface (AsyncNetworkBackend.connect_tcp).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Callable, Iterable

import httpcore
from httpcore._backends.base import SOCKET_OPTION
from socksio import ProtocolError as SocksProtocolError
from socksio import socks5

from modelclient.proxies import ProxyURL

# A CONNECT answer's head larger than this is not a proxy's answer.
HEAD_LIMIT = 16 * 1024

# The time left until the set-up's deadline (None: no limit).
_Left = Callable[[], "float | None"]

SOCKS_REPLIES = {
    b"\x01": "general SOCKS server failure",
    b"\x02": "connection not allowed by ruleset",
    b"\x03": "network unreachable",
    b"\x04": "host unreachable",
    b"\x05": "connection refused",
    b"\x06": "TTL expired",
    b"\x07": "command not supported",
    b"\x08": "address type not supported",
}


class TunnelBackend(httpcore.AsyncNetworkBackend):
    """Connections to host:port made through `proxy` (HTTP CONNECT or SOCKS5)."""

    def __init__(
        self,
        proxy: ProxyURL,
        inner: httpcore.AsyncNetworkBackend,
        proxy_ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.proxy = proxy
        self.inner = inner
        self.proxy_ssl_context = proxy_ssl_context

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        proxy = self.proxy
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - loop.time())

        try:
            stream = await self.inner.connect_tcp(
                proxy.host, proxy.port, timeout, local_address, socket_options
            )
        except httpcore.ConnectTimeout:
            raise httpcore.ConnectTimeout(
                f"timed out connecting to the proxy {proxy.display}"
            ) from None
        except httpcore.ConnectError as exc:
            raise httpcore.ProxyError(
                f"could not connect to the proxy {proxy.display}: {exc}"
            ) from exc
        try:
            if proxy.scheme == "https":
                context = self.proxy_ssl_context or ssl.create_default_context()
                stream = await stream.start_tls(context, proxy.host, left())
            if proxy.scheme.startswith("socks"):
                await _socks5(stream, host, port, proxy, left)
            else:
                await _connect(stream, host, port, proxy, left)
        except BaseException as exc:
            await stream.aclose()
            if isinstance(exc, httpcore.TimeoutException):
                raise httpcore.ConnectTimeout(
                    f"timed out opening a tunnel through the proxy {proxy.display}"
                ) from None
            if isinstance(exc, httpcore.ReadError | httpcore.WriteError):
                raise httpcore.ProxyError(
                    f"the proxy {proxy.display} closed the connection: {exc}"
                ) from exc
            raise
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("a Unix socket cannot be reached through a proxy")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _connect(
    stream: httpcore.AsyncNetworkStream, host: str, port: int, proxy: ProxyURL, left: _Left
) -> None:
    """HTTP CONNECT host:port; returns once the proxy answered 2xx."""
    target = _authority(host, port)
    head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if proxy.has_credentials:
        basic = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode("ascii")
        head += f"Proxy-Authorization: Basic {basic}\r\n"
    await stream.write((head + "\r\n").encode("utf-8"), left())
    received = b""
    while b"\r\n\r\n" not in received:
        data = await stream.read(4096, left())
        if not data:
            raise httpcore.ProxyError(
                f"the proxy {proxy.display} closed the connection before answering CONNECT"
            )
        received += data
        if len(received) > HEAD_LIMIT:
            raise httpcore.ProxyError(f"the proxy {proxy.display} sent no HTTP answer")
    head_bytes, _, rest = received.partition(b"\r\n\r\n")
    status_line = head_bytes.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise httpcore.ProxyError(f"the proxy {proxy.display} sent no HTTP answer")
    status, reason = int(parts[1]), (parts[2] if len(parts) > 2 else "").strip()
    if not 200 <= status < 300:
        words = {
            407: "wants credentials" if not proxy.has_credentials else "refused the credentials",
        }.get(status, "refused the tunnel")
        raise httpcore.ProxyError(
            f"the proxy {proxy.display} {words} (CONNECT {target}: {status} {reason})".rstrip()
        )
    if rest:
        # The server speaks only when spoken to; bytes here are not the tunnel's.
        raise httpcore.ProxyError(f"the proxy {proxy.display} sent data before the tunnel opened")


async def _read_exactly(stream: httpcore.AsyncNetworkStream, size: int, left: _Left) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await stream.read(size - len(data), left())
        if not chunk:
            raise httpcore.ReadError("the connection closed mid-handshake")
        data += chunk
    return data


async def _socks5(
    stream: httpcore.AsyncNetworkStream, host: str, port: int, proxy: ProxyURL, left: _Left
) -> None:
    """The SOCKS5 handshake: method, credentials if any, CONNECT host:port."""
    method = (
        socks5.SOCKS5AuthMethod.USERNAME_PASSWORD
        if proxy.has_credentials
        else socks5.SOCKS5AuthMethod.NO_AUTH_REQUIRED
    )
    connection = socks5.SOCKS5Connection()
    try:
        connection.send(socks5.SOCKS5AuthMethodsRequest([method]))
        await stream.write(connection.data_to_send(), left())
        chosen = connection.receive_data(await _read_exactly(stream, 2, left))
        if not isinstance(chosen, socks5.SOCKS5AuthReply) or chosen.method != method:
            wanted = "credentials" if proxy.has_credentials else "no credentials"
            raise httpcore.ProxyError(
                f"the SOCKS5 proxy {proxy.display} does not accept {wanted}"
                + ("" if proxy.has_credentials else " (it wants a user name and password)")
            )
        if proxy.has_credentials:
            connection.send(
                socks5.SOCKS5UsernamePasswordRequest(
                    proxy.username.encode(), proxy.password.encode()
                )
            )
            await stream.write(connection.data_to_send(), left())
            verdict = connection.receive_data(await _read_exactly(stream, 2, left))
            if not isinstance(verdict, socks5.SOCKS5UsernamePasswordReply) or not verdict.success:
                raise httpcore.ProxyError(
                    f"the SOCKS5 proxy {proxy.display} refused the credentials"
                )
        connection.send(
            socks5.SOCKS5CommandRequest.from_address(
                socks5.SOCKS5Command.CONNECT, (host.encode("idna"), port)
            )
        )
        await stream.write(connection.data_to_send(), left())
        reply = await _read_exactly(stream, 5, left)  # up to the address's first byte
        kind = reply[3:4]
        rest = {b"\x01": 3 + 2, b"\x04": 15 + 2, b"\x03": reply[4] + 2}.get(kind)
        if rest is None:
            raise httpcore.ProxyError(f"the SOCKS5 proxy {proxy.display} sent a malformed reply")
        answer = connection.receive_data(reply + await _read_exactly(stream, rest, left))
    except SocksProtocolError as exc:
        raise httpcore.ProxyError(
            f"the SOCKS5 proxy {proxy.display} sent a malformed reply"
        ) from exc
    assert isinstance(answer, socks5.SOCKS5Reply)
    if answer.reply_code != socks5.SOCKS5ReplyCode.SUCCEEDED:
        words = SOCKS_REPLIES.get(answer.reply_code.value, "an unknown failure")
        raise httpcore.ProxyError(
            f"the SOCKS5 proxy {proxy.display} refused the tunnel to "
            f"{_authority(host, port)}: {words}"
        )
