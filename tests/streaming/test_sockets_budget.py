"""The process's budgets for sockets (docs/security.md, "Memory per process"): open sockets
per user, and unread outgoing bytes across every socket, the sockets holding the most
dropped first."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect

from streaming import sockets_budget
from tests.servers import Daphne, app_env, copy_database, csrf_post, sign_in
from tests.streaming.test_slow_reader import open_lazy_socket, ws_frame
from tests.upstream import FakeUpstream

CLOSED_TOO_MANY = {"type": "websocket.close", "code": 4409}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_users_socket_over_the_limit_is_closed_with_4409(
    connect, alice, bob, conversation, settings
):
    settings.WS_MAX_SOCKETS_PER_USER = 3
    sockets = [await connect(alice, conversation.pk) for _ in range(3)]

    refused = await connect(alice, conversation.pk)

    assert await refused.receive_output(timeout=5) == CLOSED_TOO_MANY
    assert sockets_budget.open_sockets(alice.pk) == 3
    # Another user is not counted against alice (bob's socket is refused only for not
    # owning the conversation).
    bobs = await connect(bob, conversation.pk)
    assert await bobs.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}
    # A place freed is a place again; the refused socket held none.
    await sockets[0].disconnect()
    await refused.disconnect()
    assert sockets_budget.open_sockets(alice.pk) == 2
    again = await connect(alice, conversation.pk)
    await again.send_json_to({"type": "sync"})
    assert (await again.receive_json_from(timeout=5))["type"] == "snapshot"
    for socket in [*sockets[1:], again, bobs]:
        await socket.disconnect()
    assert sockets_budget.open_sockets(alice.pk) == 0


class Sock:
    def __init__(self, name: str, held: int) -> None:
        self.name, self.held = name, held

    def __repr__(self) -> str:
        return self.name


def test_over_budget_the_sockets_holding_the_most_go_first_measured_again() -> None:
    socks = {name: Sock(name, held) for name, held in [("a", 5), ("b", 40), ("c", 30), ("d", 0)]}
    unread = sockets_budget.UnreadBytes(lambda sock: sock.held)  # type: ignore[attr-defined]
    for sock in socks.values():
        unread.note(sock, sock.held)
    assert unread.total == 75
    assert unread.over_budget(75) == []
    # "b" has been read meanwhile: measured again, it is no longer the worst.
    socks["b"].held = 10
    socks["c"].held = 50
    unread.note(socks["a"], 20)
    assert unread.total == 90  # the figures noted, not measured: an upper bound

    assert unread.over_budget(40) == [socks["c"]]
    assert unread.total == 15
    assert unread.forget(socks["a"]) == 5
    assert unread.total == 10
    assert unread.over_budget(0) == [socks["b"]]
    assert unread.holding == {}


async def _reads_snapshots(url: str, origin: str, cookie: str, rounds: int) -> int:
    """A client that reads: `sync` every 1.2 s, each snapshot read whole."""
    received = 0
    async with ws_connect(
        url,
        origin=origin,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        max_size=None,
        open_timeout=10,
    ) as socket:
        for _ in range(rounds):
            await socket.send('{"type": "sync"}')
            async with asyncio.timeout(30):
                while True:
                    frame: dict[str, Any] = json.loads(await socket.recv())
                    if frame["type"] == "snapshot":
                        received += 1
                        break
            await asyncio.sleep(1.2)
    return received


@pytest.mark.slow
def test_over_the_process_budget_the_lazy_sockets_go_and_a_reading_one_stays(
    tmp_path: Path, fake_upstream: FakeUpstream, static_root: Path, alices_database: Path
) -> None:
    env = app_env(
        tmp_path,
        static_root,
        OPENAI_API_BASE_URL=fake_upstream.base_url,
        # Each socket could hold 8 MiB; all of them together 3 MiB.
        WS_MAX_BUFFERED_BYTES=str(8 * 1024 * 1024),
        WS_MAX_BUFFERED_BYTES_TOTAL=str(3 * 1024 * 1024),
    )
    copy_database(alices_database, tmp_path)
    server = Daphne(env, tmp_path / "daphne.log")
    lazy: list[Any] = []
    try:
        with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
            created = csrf_post(client, "/c/new/", {"text": "[[fake tokens=30000 delay=0]]"})
            assert created.status_code == 302, created.text[:500]
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            page = created.headers["Location"]
            deadline = time.monotonic() + 60
            while 'data-role="assistant" data-status="done"' not in client.get(page).text:
                assert time.monotonic() < deadline, "the answer did not end"
                time.sleep(0.5)
        ws_path = page.replace("/c/", "/ws/conversations/")
        lazy = [open_lazy_socket(server.port, ws_path, cookie) for _ in range(8)]

        async def both() -> int:
            async def pester() -> None:
                for _ in range(5):
                    for sock in lazy:
                        with suppress(OSError):
                            sock.sendall(ws_frame('{"type": "sync"}'))
                    await asyncio.sleep(1.2)

            reader = asyncio.create_task(
                _reads_snapshots(f"{server.ws_url}{ws_path}", server.url, cookie, rounds=5)
            )
            await pester()
            return await reader

        received = asyncio.run(both())

        log = server.log_path.read_text()
        # The reader got every snapshot it asked for; lazy sockets were dropped by the
        # process's budget (none could reach its own 8 MiB cap).
        assert received == 5
        assert "WS_MAX_BUFFERED_BYTES_TOTAL" in log
        assert "(WS_MAX_BUFFERED_BYTES is" not in log
        assert log.count("with 4008") <= len(lazy)
    finally:
        for sock in lazy:
            sock.close()
        server.stop()
