"""A client that never reads cannot make the server hold unbounded memory (docs/security.md).

A real daphne process (streaming.server, as `make run` and the image start it) and a raw
socket with a tiny receive buffer that never reads: it opens the conversation's socket
while a long answer streams and keeps sending `sync`, each of which once made daphne
buffer a whole snapshot. The server's memory stays bounded and the socket is dropped
with 4008 once WS_MAX_BUFFERED_BYTES are left unread.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.servers import Daphne, app_env, copy_database, csrf_post, sign_in
from tests.upstream import FakeUpstream, expected_text

# Real processes: each test starts daphne (tests/servers.py).
pytestmark = pytest.mark.slow

BUFFER_LIMIT = 1024 * 1024


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def ws_frame(text: str) -> bytes:
    """One masked text frame, as a client sends it (RFC 6455)."""
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked


def open_lazy_socket(port: int, path: str, cookie: str) -> socket.socket:
    """A WebSocket whose client reads the handshake, then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "the server closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_socket_that_never_reads_is_dropped_and_memory_stays_bounded(
    tmp_path: Path, fake_upstream: FakeUpstream, static_root: Path, alices_database: Path
):
    env = app_env(
        tmp_path,
        static_root,
        OPENAI_API_BASE_URL=fake_upstream.base_url,
        WS_MAX_BUFFERED_BYTES=str(BUFFER_LIMIT),
        CHECKPOINT_SECONDS="5",
    )
    copy_database(alices_database, tmp_path)
    server = Daphne(env, tmp_path / "daphne.log")
    try:
        with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
            # A long answer (350 kB of text, so every frame stays under daphne's 1 MiB
            # limit) starts streaming at once.
            created = csrf_post(client, "/c/new/", {"text": "[[fake tokens=40000 delay=0]]"})
            assert created.status_code == 302, created.text[:500]
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        baseline = rss_mb(server.process.pid)
        ws_path = created.headers["Location"].replace("/c/", "/ws/conversations/")
        lazy = open_lazy_socket(server.port, ws_path, cookie)
        peak = baseline
        dropped = False
        deadline = time.monotonic() + 60
        with closing(lazy):
            while time.monotonic() < deadline:
                try:
                    lazy.sendall(ws_frame('{"type": "sync"}'))
                except OSError:
                    dropped = True
                    break
                peak = max(peak, rss_mb(server.process.pid))
                if "with 4008" in server.log_path.read_text():
                    dropped = True
                    break
                time.sleep(0.15)  # under the frame rate limit: only the buffer cap applies
        assert dropped, "the server kept buffering for a client that never reads"
        assert "with 4008" in server.log_path.read_text()
        # Bounded: the cap and a few snapshots in flight, not one snapshot per `sync`.
        assert peak - baseline < 120, f"RSS grew from {baseline:.0f} MB to {peak:.0f} MB"
        # The server still serves everyone else.
        with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
            assert client.get("/").status_code == 200
    finally:
        server.stop()


async def _receive_the_ended_answer(url: str, origin: str, cookie: str) -> dict[str, Any]:
    async with connect(
        url,
        origin=origin,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        max_size=None,
        open_timeout=10,
    ) as socket:
        await socket.send(json.dumps({"type": "sync"}))
        async with asyncio.timeout(60):
            while True:
                frame: dict[str, Any] = json.loads(await socket.recv())
                # `done`, or the snapshot of an answer that ended before the socket opened.
                if frame["type"] in {"done", "snapshot"} and frame["message"]["status"] == "done":
                    return frame


def test_an_answer_whose_done_frame_is_over_1_mib_reaches_the_client(
    tmp_path: Path, fake_upstream: FakeUpstream, static_root: Path, alices_database: Path
):
    """daphne's 1 MiB limit is on incoming messages; the server's own frames may be larger."""
    env = app_env(tmp_path, static_root, OPENAI_API_BASE_URL=fake_upstream.base_url)
    copy_database(alices_database, tmp_path)
    server = Daphne(env, tmp_path / "daphne.log")
    try:
        with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
            created = csrf_post(client, "/c/new/", {"text": "[[fake tokens=100000 delay=0]]"})
            assert created.status_code == 302, created.text[:500]
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        ws_path = created.headers["Location"].replace("/c/", "/ws/conversations/")
        url = f"{server.ws_url}{ws_path}"
        done = asyncio.run(_receive_the_ended_answer(url, server.url, cookie))
        assert len(json.dumps(done)) > 1024 * 1024
        assert done["message"]["content"] == expected_text(100000)
    finally:
        server.stop()
