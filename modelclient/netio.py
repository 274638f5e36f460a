"""httpx's sockets on asyncio's own transports: the read path of every streamed token.

httpx reaches the network through httpcore, whose default backend (anyio) pauses the
socket after every chunk it receives and resumes it on the next read: two epoll_ctl
system calls and a selector update per read, and with TLS a second, pure-Python TLS layer
(anyio's TLSStream over a memory BIO). A streamed reply is one small chunk per token, so
that was about a tenth of the process at 200 concurrent answers (py-spy, bench c200).

This backend keeps the socket registered for reading while data keeps coming. A protocol
buffers what arrives; `read()` returns what is buffered at once and waits only on an empty
buffer. Reading pauses only past READ_BUFFER_LIMIT unread bytes (a reader far behind), so
memory per connection stays bounded. TLS is asyncio's (`loop.start_tls`, the ssl module's
C implementation on the same transport). Everything above the socket is still httpx and
httpcore: the HTTP/1.1 parsing, the pool, keep-alive, timeouts and their exceptions.

A reader may hold its reads (READ_HOLD, a ReadHold in its task's context): what arrives
before `ReadHold.until` stays buffered (after the first bytes, in the kernel: the socket
is not read meanwhile) and the reader is woken once, at that time, with all of it. A
streamed answer sends a delta frame once per coalescing window, so reading each token as
it comes only to wait for the window costs a wake-up and a pass through the read path per
token (streaming.generation sets the hold to just before its next frame is due).
"""

# The `timeout` parameters are httpcore's interface (AsyncNetworkStream/Backend).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextvars
import math
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore._backends.base import SOCKET_OPTION

from modelclient.proxies import ProxyURL
from modelclient.tunnel import TunnelBackend

# Unread bytes at which the transport stops reading until the reader catches up.
READ_BUFFER_LIMIT = 256 * 1024


class ReadHold:
    """Until when (event loop time) the reads of the task holding it gather data."""

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until = 0.0


READ_HOLD: contextvars.ContextVar[ReadHold | None] = contextvars.ContextVar(
    "chatweb_read_hold", default=None
)


class _Protocol(asyncio.Protocol):
    """Buffers what the socket receives; wakes the one reader waiting for it (at once, or
    at its hold's time: one wake-up for everything that arrived meanwhile)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        # The waiting reader's hold, and the timer that wakes it at the hold's time.
        self.hold: ReadHold | None = None
        self.hold_timer: asyncio.TimerHandle | None = None
        self.hold_paused = False  # reading paused for the hold (not for a full buffer)
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        transport = self.transport
        if (
            len(self.buffer) > READ_BUFFER_LIMIT
            and transport is not None
            and transport.is_reading()
        ):
            transport.pause_reading()
        hold = self.hold
        if hold is not None and self.waiter is not None:
            loop = asyncio.get_running_loop()
            if hold.until > loop.time():
                if self.hold_timer is None:
                    self.hold_timer = loop.call_at(hold.until, self._end_hold)
                    # What else comes meanwhile waits in the kernel: one recv for it all.
                    if transport is not None and transport.is_reading():
                        transport.pause_reading()
                        self.hold_paused = True
                return
        self._wake()

    def _end_hold(self) -> None:
        self.hold_timer = None
        if not self.hold_paused:
            self._wake()
            return
        self.resume_after_hold()
        # On the loop's next turn, after the socket's waiting bytes are read.
        asyncio.get_running_loop().call_soon(self._wake)

    def resume_after_hold(self) -> None:
        transport = self.transport
        if self.hold_paused and transport is not None and not transport.is_closing():
            self.hold_paused = False
            if len(self.buffer) <= READ_BUFFER_LIMIT and not transport.is_reading():
                transport.resume_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.error = exc
        self._wake()
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)

    def _wake(self) -> None:
        if self.hold_timer is not None:
            self.hold_timer.cancel()
            self.hold_timer = None
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        # The read timeout is one timer per stream, not one per read: a read only moves
        # the deadline, and the timer, when it fires early, sets itself again for it.
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            protocol.waiter = waiter
            protocol.hold = READ_HOLD.get()
            if timeout is None:
                self._deadline = math.inf  # this read waits as long as it takes
            else:
                self._deadline = loop.time() + timeout
                if self._timer is None:
                    self._timer = loop.call_at(self._deadline, self._on_timer)
            try:
                await waiter
            finally:
                protocol.waiter = None
                protocol.hold = None
                if protocol.hold_timer is not None:  # a timeout or a cancel came first
                    protocol.hold_timer.cancel()
                    protocol.hold_timer = None
                    protocol.resume_after_hold()
        buffer = protocol.buffer
        if buffer:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
            if len(buffer) <= READ_BUFFER_LIMIT // 2 and not self._transport.is_reading():
                self._transport.resume_reading()
            return data
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""  # the server closed the connection

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._protocol.waiter
        if waiter is None or waiter.done() or self._deadline == math.inf:
            return  # no read waiting, or one without a timeout: the next one sets a timer
        if self._protocol.buffer:
            self._protocol._wake()  # data came in time; it was only held
            return
        loop = asyncio.get_running_loop()
        if loop.time() >= self._deadline:
            waiter.set_exception(httpcore.ReadTimeout("timed out reading from the model server"))
        else:
            self._timer = loop.call_at(self._deadline, self._on_timer)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection to the model server is closed")
        self._transport.write(buffer)
        if protocol.write_paused:
            protocol.drain_waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await protocol.drain_waiter
            except TimeoutError:
                raise httpcore.WriteTimeout("timed out writing to the model server") from None
            if protocol.error is not None:
                raise httpcore.WriteError(str(protocol.error))

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        assert isinstance(transport, asyncio.Transport)
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":
            # An idle pooled connection with something to read (or closed) is not reusable.
            protocol = self._protocol
            return bool(protocol.buffer) or protocol.eof or self._transport.is_closing()
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, port, local_addr=local
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock: socket.socket | None = transport.get_extra_info("socket")
        for option in socket_options or ():
            if sock is not None:
                sock.setsockopt(*option)
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_unix_connection(_Protocol, path)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {path}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# Pools side by side when the number of connections is not limited (SharedPools).
POOL_SHARDS = 32


class _Released:
    """A response body that gives its pool's place back when closed (once)."""

    __slots__ = ("_done", "_inner", "_release")

    def __init__(self, inner: Any, release: Any) -> None:
        self._inner = inner
        self._release = release
        self._done = False

    def __aiter__(self) -> Any:
        return self._inner.__aiter__()  # the body's own iterator: no layer added per chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if not self._done:
                self._done = True
                self._release()


class SharedPools:
    """httpcore connection pools side by side; each request goes to the least busy one.

    httpcore's pool walks every connection it holds on each request and on each
    response's close (AsyncConnectionPool._assign_requests_to_connections): with a
    connection per streaming answer, that walk is as long as the number of answers, so
    its cost grows with the square of it (py-spy at 1000 concurrent: 15 % of the
    process; 1.5 % with 32 pools). Here each pool holds a 32nd. The least busy pool
    (the first of equals) takes the next request, so a lone request always finds the
    first pool's idle connection. Only without a connection limit: one pool keeps a
    limit exact.
    """

    def __init__(self, pools: list[httpcore.AsyncConnectionPool]) -> None:
        self.pools = pools
        self.busy = [0] * len(pools)

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        busy = self.busy
        index = busy.index(min(busy))
        busy[index] += 1
        try:
            response = await self.pools[index].handle_async_request(request)
        except BaseException:
            busy[index] -= 1
            raise

        def release() -> None:
            busy[index] -= 1

        response.stream = _Released(response.stream, release)
        return response

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()

    async def __aenter__(self) -> SharedPools:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# httpcore's errors as httpx's (the names of both are public API): the most specific wins.
_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _as_httpx(exc: Exception) -> Exception:
    for theirs, ours in _ERRORS:
        if isinstance(exc, theirs):
            return ours(str(exc))
    return exc


class _Body(httpx.AsyncByteStream):
    """A response body from httpcore, its errors raised as httpx's."""

    __slots__ = ("_stream",)

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> Any:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            mapped = _as_httpx(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


class AsyncioTransport(httpx.AsyncBaseTransport):
    """An httpx transport (httpx's public transport API) over httpcore connection pools
    (httpcore's public API) built on AsyncioBackend: HTTP/1.1, TLS with the given
    context, httpcore's errors raised as httpx's, as httpx's own transport does.

    With a `proxy`, every connection is a tunnel through it (modelclient/tunnel.py), on
    the same backend: a proxied reply is read as a direct one is."""

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        verify: ssl.SSLContext | bool = True,
        proxy: ProxyURL | None = None,
    ) -> None:
        ssl_context = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx.create_ssl_context(verify=verify)
        )
        shards = POOL_SHARDS if limits.max_connections is None else 1
        keepalive = limits.max_keepalive_connections
        if keepalive is not None and shards > 1:
            keepalive = max(1, -(-keepalive // shards))  # the idle ones, shared out too

        backend: httpcore.AsyncNetworkBackend = AsyncioBackend()
        if proxy is not None:
            backend = TunnelBackend(proxy, backend)

        def pool() -> httpcore.AsyncConnectionPool:
            return httpcore.AsyncConnectionPool(
                ssl_context=ssl_context,
                max_connections=limits.max_connections,
                max_keepalive_connections=keepalive,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=backend,
            )

        self.pools = SharedPools([pool() for _ in range(shards)])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self.pools.handle_async_request(core)
        except Exception as exc:
            mapped = _as_httpx(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.pools.aclose()
