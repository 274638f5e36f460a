"""Real outbound proxies for tests: an HTTP CONNECT proxy and a SOCKS5 proxy on 127.0.0.1.

Each runs an asyncio server in a thread of its own (so a test's event loop, a sync test
and a daphne process started by the test can all use it), on an ephemeral port, and
records what it received as a proxy: every request head (HTTP) or handshake (SOCKS5), in
`log`, and the destinations it tunnelled to, in `tunnels`. The bytes inside a tunnel are
passed on, never recorded: that is what a proxy's log holds, and what the tests search
for the API key.

Written here rather than taken from PyPI (pproxy, ...): about two hundred lines of the
standard library, and the failures the tests need (a CONNECT answered 403, a SOCKS5 reply
"connection not allowed", wrong credentials) are one flag each.

    with ConnectProxy(username="u", password="p") as proxy:
        proxy.url        # http://u:p@127.0.0.1:PORT
        proxy.log        # [b"CONNECT 127.0.0.1:9000 HTTP/1.1\\r\\nHost: ...", ...]
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import struct
import threading
from urllib.parse import quote

# A request head larger than this is refused (a test proxy, not a real one).
HEAD_LIMIT = 16 * 1024


class _ProxyServer:
    scheme = ""

    def __init__(self, *, username: str = "", password: str = "", refuse: bool = False) -> None:
        self.username = username
        self.password = password
        self.refuse = refuse
        self.port = 0
        # What each client sent as proxy protocol (never the tunnelled bytes).
        self.log: list[bytes] = []
        # (host, port) of each tunnel opened.
        self.tunnels: list[tuple[str, int]] = []
        # Clients refused (bad credentials, refusal, unreachable destination).
        self.refused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The proxy's URL, with its credentials when it wants some."""
        auth = ""
        if self.username:
            auth = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@"
        return f"{self.scheme}://{auth}127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def received(self) -> bytes:
        with self._lock:
            return b"".join(self.log)

    def _record(self, data: bytes) -> None:
        with self._lock:
            self.log.append(data)

    def start(self) -> _ProxyServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def serve() -> None:
                self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()

            loop.run_until_complete(serve())
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=f"test-{self.scheme}-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the test proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> _ProxyServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass  # a client gone, a malformed request, or the proxy stopping
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _open(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise OSError(f"the test proxy reaches 127.0.0.1 only, not {host}")
        return await asyncio.open_connection(host, port)

    async def _pipe(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        remote: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    sink.write_eof()

        try:
            await asyncio.gather(copy(client[0], remote[1]), copy(remote[0], client[1]))
        finally:
            remote[1].close()


class ConnectProxy(_ProxyServer):
    """An HTTP proxy that only tunnels (CONNECT host:port); anything else gets 405.

    username/password: Basic Proxy-Authorization required (407 without it or when wrong).
    refuse: every CONNECT answered 403 Forbidden.
    """

    scheme = "http"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > HEAD_LIMIT:
            raise ValueError("head too large")
        self._record(head)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if method != "CONNECT":
            return await self._answer(writer, 405, "Method Not Allowed")
        if self.username:
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if headers.get("proxy-authorization") != f"Basic {expected}":
                return await self._answer(
                    writer,
                    407,
                    "Proxy Authentication Required",
                    b'Proxy-Authenticate: Basic realm="test"\r\n',
                )
        if self.refuse:
            return await self._answer(writer, 403, "Forbidden")
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        try:
            remote = await self._open(host, int(port))
        except OSError:
            return await self._answer(writer, 502, "Bad Gateway")
        with self._lock:
            self.tunnels.append((host, int(port)))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await self._pipe((reader, writer), remote)

    async def _answer(
        self, writer: asyncio.StreamWriter, status: int, reason: str, extra: bytes = b""
    ) -> None:
        with self._lock:
            self.refused += 1
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\n".encode()
            + extra
            + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()


class Socks5Proxy(_ProxyServer):
    """A SOCKS5 proxy (RFC 1928; RFC 1929 username/password), CONNECT only.

    username/password: only the username/password method is accepted.
    refuse: every CONNECT answered "connection not allowed by ruleset" (reply 0x02).
    """

    scheme = "socks5"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        greeting = await reader.readexactly(2)
        methods = await reader.readexactly(greeting[1])
        self._record(greeting + methods)
        if greeting[0] != 5:
            raise ValueError("not SOCKS5")
        wanted = 2 if self.username else 0
        if wanted not in methods:
            writer.write(b"\x05\xff")  # no acceptable method
            await writer.drain()
            self._count_refusal()
            return
        writer.write(bytes([5, wanted]))
        await writer.drain()
        if wanted == 2:
            version, length = await reader.readexactly(2)
            username = await reader.readexactly(length)
            (length,) = await reader.readexactly(1)
            password = await reader.readexactly(length)
            self._record(bytes([version]) + username + password)
            if (username.decode(), password.decode()) != (self.username, self.password):
                writer.write(b"\x01\x01")
                await writer.drain()
                self._count_refusal()
                return
            writer.write(b"\x01\x00")
            await writer.drain()
        request = await reader.readexactly(4)
        version, command, _reserved, kind = request
        if kind == 1:
            raw = await reader.readexactly(4)
            host = str(ipaddress.IPv4Address(raw))
        elif kind == 4:
            raw = await reader.readexactly(16)
            host = str(ipaddress.IPv6Address(raw))
        elif kind == 3:
            (length,) = await reader.readexactly(1)
            raw = await reader.readexactly(length)
            host = raw.decode("ascii")
        else:
            raise ValueError("unknown address type")
        port_bytes = await reader.readexactly(2)
        self._record(request + raw + port_bytes)
        (port,) = struct.unpack("!H", port_bytes)
        if version != 5 or command != 1:
            return await self._reply(writer, 7)  # command not supported
        if self.refuse:
            return await self._reply(writer, 2)  # connection not allowed by ruleset
        try:
            remote = await self._open(host, port)
        except OSError:
            return await self._reply(writer, 5)  # connection refused
        with self._lock:
            self.tunnels.append((host, port))
        writer.write(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack("!H", port))
        await writer.drain()
        await self._pipe((reader, writer), remote)

    def _count_refusal(self) -> None:
        with self._lock:
            self.refused += 1

    async def _reply(self, writer: asyncio.StreamWriter, code: int) -> None:
        self._count_refusal()
        writer.write(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
        await writer.drain()
