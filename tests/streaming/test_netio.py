"""httpx over asyncio's own sockets (modelclient/netio.py): real servers on 127.0.0.1.

The provider tests (test_providers.py) run every reply, error and timeout through this
backend already, since the shared client uses it; these cover what they cannot reach:
that the client really uses it, TLS, a reader far behind, a silent and a closing server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpcore
import httpx
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modelclient import netio
from modelclient.providers import ChatMessage, OpenAICompatible, ProviderConfig, get_client

pytestmark = pytest.mark.asyncio

LOCALHOST = ipaddress.ip_address("127.0.0.1")
HI: list[ChatMessage] = [{"role": "user", "content": "hi"}]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """serve(handler, ssl=None) -> port of a server on 127.0.0.1, closed after the test."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler, ssl: ssl.SSLContext | None = None) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def sse_reply(tokens: int) -> bytes:
    """An OpenAI-style streamed reply (chunked HTTP/1.1), as a model server sends it."""
    events = [
        b'data: {"choices":[{"delta":{"content":"%s"}}]}\n\n' % f"word{i} ".encode()
        for i in range(tokens)
    ]
    events.append(b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head + body


async def read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(line[15:]) for line in lines if line.startswith(b"content-length:")), 0)
    await reader.readexactly(length)


async def test_the_shared_client_reads_through_asyncio_sockets():
    transport = get_client()._transport
    assert isinstance(transport, netio.AsyncioTransport)
    pools = transport.pools
    assert isinstance(pools, netio.SharedPools)
    assert len(pools.pools) == netio.POOL_SHARDS  # no connection limit by default
    for pool in pools.pools:
        assert isinstance(pool._network_backend, netio.AsyncioBackend)


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for 127.0.0.1 and a client context that trusts only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOCALHOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_a_reply_streams_over_tls(serve, tmp_path):
    server_tls, client_tls = self_signed(tmp_path)
    seen: list[bool] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        seen.append(writer.get_extra_info("ssl_object") is not None)
        writer.write(sse_reply(50))
        await writer.drain()
        writer.close()

    port = await serve(handler, ssl=server_tls)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=5)
    async with httpx.AsyncClient(
        transport=netio.AsyncioTransport(limits=limits, verify=client_tls)
    ) as client:
        provider = OpenAICompatible(
            ProviderConfig(f"https://127.0.0.1:{port}/v1", "k", 5.0), client
        )
        parts = [delta.text async for delta in provider.stream_chat(model="m", messages=HI)]
    assert "".join(parts) == "".join(f"word{i} " for i in range(50))
    assert seen == [True]


async def test_tls_with_an_untrusted_certificate_is_refused(serve, tmp_path):
    server_tls, _ = self_signed(tmp_path)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    port = await serve(handler, ssl=server_tls)
    backend = netio.AsyncioBackend()
    stream = await backend.connect_tcp("127.0.0.1", port, timeout=5)
    with pytest.raises(httpcore.ConnectError):
        await stream.start_tls(ssl.create_default_context(), server_hostname="127.0.0.1", timeout=5)


async def test_a_reader_far_behind_pauses_the_socket_and_loses_nothing(serve):
    payload = bytes(range(256)) * 8192  # 2 MiB, far past the read buffer's limit

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        writer.close()

    port = await serve(handler)
    stream = await netio.AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    assert isinstance(stream, netio.AsyncioStream)
    protocol = stream._protocol
    for _ in range(100):  # until the buffer fills (the server writes as fast as it can)
        if not stream._transport.is_reading():
            break
        await asyncio.sleep(0.02)
    assert not stream._transport.is_reading()
    # Bounded: at most the limit plus what one receive brought in.
    assert len(protocol.buffer) < netio.READ_BUFFER_LIMIT + 512 * 1024
    received = bytearray()
    while len(protocol.buffer) > netio.READ_BUFFER_LIMIT // 2:
        received += await stream.read(65536, timeout=5)
    # Caught up to half the limit: reading resumes (the rest is still on its way).
    assert stream._transport.is_reading()
    while chunk := await stream.read(65536, timeout=5):
        received += chunk
    assert bytes(received) == payload
    await stream.aclose()


async def test_a_silent_server_times_the_read_out(serve):
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # says nothing until the client hangs up
        writer.close()

    port = await serve(handler)
    stream = await netio.AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    with pytest.raises(httpcore.ReadTimeout):
        await stream.read(100, timeout=0.2)
    await stream.aclose()


async def test_a_closed_connection_reads_empty_and_is_not_reused(serve):
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye")
        writer.close()

    port = await serve(handler)
    stream = await netio.AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    assert await stream.read(100, timeout=5) == b"bye"
    assert await stream.read(100, timeout=5) == b""
    # The pool asks this of an idle connection before reusing it.
    assert stream.get_extra_info("is_readable") is True
    await stream.aclose()


async def test_an_idle_keep_alive_connection_is_reused(serve):
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        for _ in range(2):
            await read_request(reader)
            writer.write(sse_reply(3))
            await writer.drain()
        writer.close()

    port = await serve(handler)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=5)
    async with httpx.AsyncClient(transport=netio.AsyncioTransport(limits=limits)) as client:
        provider = OpenAICompatible(ProviderConfig(f"http://127.0.0.1:{port}/v1", "", 5.0), client)
        for _ in range(2):
            text = "".join([d.text async for d in provider.stream_chat(model="m", messages=HI)])
            assert text == "word0 word1 word2 "
    assert connections == [1]


async def test_nothing_listening_is_a_connect_error():
    with pytest.raises(httpcore.ConnectError):
        await netio.AsyncioBackend().connect_tcp("127.0.0.1", 1, timeout=5)


async def test_a_server_that_keeps_talking_is_not_timed_out_and_one_that_stops_is(serve):
    """The read timeout bounds the silence since the last read, not the whole reply."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(6):  # 0.6 s of talking, more than the 0.25 s timeout
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.1)
        await reader.read()  # then silence until the client hangs up
        writer.close()

    port = await serve(handler)
    stream = await netio.AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    received = b""
    while len(received) < 6:
        received += await stream.read(100, timeout=0.25)
    assert received == b"xxxxxx"
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(httpcore.ReadTimeout):
        await stream.read(100, timeout=0.25)
    assert 0.2 <= loop.time() - started < 2
    await stream.aclose()


async def test_a_read_without_a_timeout_outlives_an_earlier_reads_timer(serve):
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"a")
        await writer.drain()
        await asyncio.sleep(0.5)  # longer than the first read's timeout
        writer.write(b"b")
        await writer.drain()
        await reader.read()
        writer.close()

    port = await serve(handler)
    stream = await netio.AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    assert await stream.read(100, timeout=0.2) == b"a"  # its timer is still set
    assert await stream.read(100, timeout=None) == b"b"
    await stream.aclose()


async def test_a_held_read_gathers_what_arrives_until_its_hold_ends(serve):
    """With a ReadHold in the reader's context, pieces that arrive before its time come back
    in one read at that time; without one, each piece is read as it comes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in (b"a", b"b", b"c"):
            await asyncio.sleep(0.05)
            writer.write(piece)
            await writer.drain()
        await reader.read()
        writer.close()

    async def reads(hold_for: float | None) -> list[bytes]:
        port = await serve(handler)
        stream = await netio.AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        if hold_for is not None:
            hold = netio.ReadHold()
            hold.until = asyncio.get_running_loop().time() + hold_for
            netio.READ_HOLD.set(hold)
        got: list[bytes] = []
        while sum(map(len, got)) < 3:
            got.append(await stream.read(100, timeout=5))
        await stream.aclose()
        return got

    assert await asyncio.create_task(reads(None)) == [b"a", b"b", b"c"]
    # The tasks keep the hold in their own context, as a generation's reading task does.
    assert await asyncio.create_task(reads(0.4)) == [b"abc"]


async def test_a_held_read_is_not_timed_out_by_data_it_holds_and_sees_the_end_at_once(serve):
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.close()

    port = await serve(handler)
    stream = await netio.AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    loop = asyncio.get_running_loop()
    hold = netio.ReadHold()
    netio.READ_HOLD.set(hold)
    hold.until = loop.time() + 60  # past the read's timeout: the held data is still data
    assert await stream.read(100, timeout=0.2) == b"x"
    started = loop.time()
    assert await stream.read(100, timeout=120) == b""  # the close is not held
    assert loop.time() - started < 30  # a held close would wait out the minute
    await stream.aclose()


async def test_a_held_read_leaves_what_follows_in_the_kernel_until_the_hold_ends(serve):
    sent = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in (b"a", b"b", b"c"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.05)
        sent.set()
        await reader.read()
        writer.close()

    port = await serve(handler)
    stream = await netio.AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    assert isinstance(stream, netio.AsyncioStream)
    hold = netio.ReadHold()
    hold.until = asyncio.get_running_loop().time() + 1.5
    netio.READ_HOLD.set(hold)
    read = asyncio.create_task(stream.read(100, timeout=5))
    await sent.wait()  # all three pieces were sent (about 0.1 s: well inside the hold)
    await asyncio.sleep(0.05)  # and had time to arrive
    assert not read.done()
    assert not stream._transport.is_reading()  # paused after the first piece
    assert bytes(stream._protocol.buffer) == b"a"  # the rest waits in the kernel
    assert await read == b"abc"  # taken in the same wake-up, at the hold's end
    assert stream._transport.is_reading()
    await stream.aclose()


async def test_answers_at_once_are_spread_over_the_pools_and_each_gives_its_place_back(serve):
    """Concurrent replies go to the least busy pools; one alone reuses the first pool's
    connection; every reply, finished or failed, gives its place back."""
    connections: list[int] = []
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            await release.wait()
            writer.write(sse_reply(2))
            await writer.drain()
        writer.close()

    port = await serve(handler)
    transport = netio.AsyncioTransport(limits=httpx.Limits(max_connections=None))
    pools = transport.pools
    assert isinstance(pools, netio.SharedPools)
    async with httpx.AsyncClient(transport=transport) as client:
        provider = OpenAICompatible(ProviderConfig(f"http://127.0.0.1:{port}/v1", "", 5.0), client)

        async def reply() -> str:
            return "".join([d.text async for d in provider.stream_chat(model="m", messages=HI)])

        replies = [asyncio.create_task(reply()) for _ in range(3)]
        for _ in range(100):
            if sum(pools.busy) == 3:
                break
            await asyncio.sleep(0.01)
        assert pools.busy[:3] == [1, 1, 1]  # one each in the three least busy pools
        release.set()
        assert await asyncio.gather(*replies) == ["word0 word1 "] * 3
        assert pools.busy == [0] * netio.POOL_SHARDS
        assert len(connections) == 3
        for _ in range(2):  # one at a time: the first pool's idle connection, again
            assert await reply() == "word0 word1 "
        assert len(connections) == 3
        assert pools.busy == [0] * netio.POOL_SHARDS

    # A request that fails gives its place back too.
    transport = netio.AsyncioTransport(limits=httpx.Limits(max_connections=None))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:1/")
        assert isinstance(transport.pools, netio.SharedPools)
        assert transport.pools.busy == [0] * netio.POOL_SHARDS


async def test_a_connection_limit_keeps_one_pool():
    transport = netio.AsyncioTransport(limits=httpx.Limits(max_connections=3))
    assert isinstance(transport.pools, netio.SharedPools)
    assert len(transport.pools.pools) == 1
    await transport.aclose()
