"""PostgreSQL or Redis down for seconds mid-answer: no text is lost, and the app serves again.

Real parts only: this module starts its OWN PostgreSQL (initdb into a temporary
directory, pg_ctl on a spare port) and its own redis-server on a spare port, never the
machine's shared ones, and a real daphne process on them. It stops each service for
~5 s, 1 minute or 5 minutes while an answer streams, or kills the server during an
outage, then checks what the database holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from websockets.asyncio.client import connect

from tests.servers import (
    Daphne,
    app_env,
    csrf_post,
    free_port,
    manage,
    migrate_with_user,
    sign_in,
)
from tests.upstream import FakeUpstream, expected_text

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
REDIS_SERVER = shutil.which("redis-server")

pytestmark = [
    pytest.mark.slow,  # its own PostgreSQL and Redis servers, and daphne
    # Each waits out an outage (seconds to minutes): `make test-long`, once, not in both
    # `make test` and `make test-pg` (it runs its own servers either way).
    pytest.mark.long,
    pytest.mark.skipif(
        PG_BIN is None or REDIS_SERVER is None,
        reason="needs PostgreSQL's binaries and redis-server",
    ),
]

OUTAGE_S = 5.0


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the Debian package has a postgres user.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class Postgres:
    def __init__(self) -> None:
        assert PG_BIN is not None
        self.dir = Path(tempfile.mkdtemp(prefix="chatweb-outage-pg-"))
        self.dir.chmod(0o755)
        self.data = self.dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        try:
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                      "-A", "trust", "--no-sync", "-E", "UTF8")  # fmt: skip
            self.start()
            with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
                connection.execute("CREATE DATABASE chatweb")
        except BaseException:  # interrupted too (CI stops the suite with SIGINT)
            self.close()
            raise

    def _run(self, *args: str) -> None:
        subprocess.run(_as_postgres(list(args)), check=True, capture_output=True, timeout=60)

    def url(self, database: str = "chatweb") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,  # type: ignore[operator]
                  "-l", str(self.dir / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")  # type: ignore[operator]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                import socket

                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@dataclass
class Services:
    postgres: Postgres
    redis: Redis
    migrated: bool = False  # the module's database has its tables and alice


@pytest.fixture(scope="module")
def services(static_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    postgres = Postgres()
    redis = Redis()
    try:
        yield Services(postgres, redis)
    finally:
        redis.stop()
        postgres.close()


@pytest.fixture
def app(services: Services, static_root: Path, tmp_path: Path, fake_upstream: FakeUpstream):
    """app(**env) -> a running daphne on the module's own PostgreSQL and Redis."""
    started: list[Daphne] = []

    def _start(**extra: str) -> Daphne:
        env = app_env(
            tmp_path, static_root,
            DATABASE_URL=services.postgres.url(), REDIS_URL=services.redis.url,
            OPENAI_API_BASE_URL=fake_upstream.base_url, INSTANCE_ID="outage-test",
            CHECKPOINT_SECONDS="0.2", **extra,
        )  # fmt: skip
        if not services.migrated:  # once for the module's tests: one Django start
            migrate_with_user(env, "alice", "alice-password-1")
            services.migrated = True
        server = Daphne(env, tmp_path / f"daphne-{len(started)}.log")
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


def answer_row(services: Services, conversation_id: int) -> tuple[str, str, str]:
    with psycopg.connect(services.postgres.url(), connect_timeout=2) as connection:
        row = connection.execute(
            "SELECT status, content, error_code FROM conversations_message "
            "WHERE role = 'assistant' AND conversation_id = %s ORDER BY id DESC LIMIT 1",
            (conversation_id,),
        ).fetchone()
    return row or ("", "", "")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.Error):
            if predicate():
                return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_chat(server: Daphne, text: str) -> int:
    with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
        created = csrf_post(client, "/c/new/", {"text": text})
    assert created.status_code == 302, created.text[:500]
    return int(created.headers["location"].strip("/").split("/")[-1])


def ended(services: Services, conversation_id: int) -> bool:
    return answer_row(services, conversation_id)[0] not in ("", "pending", "streaming")


def tokens_sent(upstream: FakeUpstream) -> int:
    requests = upstream.chat_requests
    return requests[-1].tokens_sent if requests else 0


def serves_again(server: Daphne, services: Services) -> None:
    conversation_id = start_chat(server, "[[fake tokens=5]]")
    wait_for(lambda: ended(services, conversation_id), 20, "an answer after the outage")
    assert answer_row(services, conversation_id) == ("done", expected_text(5), "")


def test_a_database_outage_mid_answer_loses_no_text(app, services: Services, fake_upstream):
    server = app(DATABASE_RETRY_SECONDS="15")
    # 6 s of reply; PostgreSQL goes away after ~1 s for 5 s: checkpoints fail, and the
    # end (at ~6 s) is retried until it is back.
    conversation_id = start_chat(server, "[[fake tokens=300 delay=0.02]]")
    wait_for(lambda: tokens_sent(fake_upstream) > 50, 10, "tokens")
    services.postgres.stop()
    time.sleep(OUTAGE_S)
    services.postgres.start()

    wait_for(lambda: ended(services, conversation_id), 30, "the answer's end")
    status, content, error_code = answer_row(services, conversation_id)
    assert (status, error_code) == ("done", ""), server.log_path.read_text()[-3000:]
    assert content == expected_text(300)
    serves_again(server, services)


async def watch_through_outage(
    server: Daphne, services: Services, conversation_id: int, outage_s: float, upstream
) -> list[dict[str, Any]]:
    """A socket on the conversation while PostgreSQL goes away for `outage_s`: every
    frame it gets, until the `done` that follows the database's return."""
    frames: list[dict[str, Any]] = []
    async with alices_socket(server, conversation_id) as socket:
        await asyncio.to_thread(wait_for, lambda: tokens_sent(upstream) > 50, 10, "tokens")
        await asyncio.to_thread(services.postgres.stop)
        stopped_at = time.monotonic()
        async with asyncio.timeout(60):  # the answer ends while the database is away
            while not (frames and frames[-1]["type"] == "done"):
                frames.append(json.loads(await socket.recv()))
        await asyncio.sleep(max(0.0, outage_s - (time.monotonic() - stopped_at)))
        await asyncio.to_thread(services.postgres.start)
        async with asyncio.timeout(30):  # saved once it is back, and told
            frames.append(json.loads(await socket.recv()))
            while frames[-1]["type"] != "done":
                frames.append(json.loads(await socket.recv()))
    return frames


@pytest.mark.parametrize("outage_s", [60, 300], ids=["1-minute", "5-minute"])
def test_a_long_database_outage_loses_no_text(
    app, services: Services, fake_upstream, outage_s: float
):
    """The answer streams on to its socket while the database is away; the socket gets
    its `done` at once (saved: false), and a second (saved) once the database is back and
    holds the whole text. The upstream is read to the end, never abandoned."""
    server = app(DATABASE_RETRY_SECONDS="3")
    conversation_id = start_chat(server, "[[fake tokens=300 delay=0.02]]")
    frames = asyncio.run(
        watch_through_outage(server, services, conversation_id, outage_s, fake_upstream)
    )
    dones = [f for f in frames if f["type"] == "done"]
    assert [d["saved"] for d in dones] == [False, True]
    assert [d["message"]["content"] for d in dones] == [expected_text(300)] * 2
    text = "".join(f["text"] for f in frames if f["type"] == "delta")
    assert expected_text(300).endswith(text)  # every delta after the socket joined
    assert fake_upstream.chat_requests[-1].tokens_sent == 300
    assert answer_row(services, conversation_id) == ("done", expected_text(300), "")
    # Nothing is left on disk once it is saved, and a sync reads the whole text.
    assert not list((Path(server.env["DATA_DIR"]) / "spill").glob("*.jsonl"))
    snapshot = asyncio.run(sync_over_socket(server, conversation_id))
    assert snapshot["message"]["content"] == expected_text(300)
    serves_again(server, services)


def test_a_server_killed_during_a_database_outage_loses_no_text(
    app, services: Services, fake_upstream
):
    """kill -9 while the database is away: what the answer had sent is on disk, and
    start-up recovery (recover_streams) writes it once the database is back."""
    server = app()
    conversation_id = start_chat(server, "[[fake tokens=1000 delay=0.02]]")
    wait_for(lambda: tokens_sent(fake_upstream) > 50, 10, "tokens")
    services.postgres.stop()
    try:
        spill = Path(server.env["DATA_DIR"]) / "spill"
        # A few checkpoints fail (every 0.2 s here): each appends to the spill file.
        wait_for(lambda: tokens_sent(fake_upstream) > 250, 15, "tokens during the outage")
        assert list(spill.glob("*.jsonl")), "nothing was kept on disk"
        server.kill()
    finally:
        services.postgres.start()
    before = answer_row(services, conversation_id)
    assert before[0] in ("pending", "streaming")
    manage(server.env, "recover_streams")
    status, content, error_code = answer_row(services, conversation_id)
    assert (status, error_code) == ("interrupted", "interrupted")
    assert expected_text(1000).startswith(content)
    # More than any checkpoint before the outage: the text sent during it, from disk.
    assert len(content) > len(before[1])
    assert content.count("w") > 200
    assert not list(spill.glob("*.jsonl"))


def test_a_redis_outage_mid_answer_loses_no_text(app, services: Services, fake_upstream):
    server = app(DATABASE_RETRY_SECONDS="15")
    conversation_id = start_chat(server, "[[fake tokens=300 delay=0.02]]")
    wait_for(lambda: tokens_sent(fake_upstream) > 50, 10, "tokens")
    services.redis.stop()
    time.sleep(OUTAGE_S)
    services.redis.start()

    wait_for(lambda: ended(services, conversation_id), 30, "the answer's end")
    status, content, error_code = answer_row(services, conversation_id)
    assert (status, error_code) == ("done", ""), server.log_path.read_text()[-3000:]
    assert content == expected_text(300)
    serves_again(server, services)
    # A socket opened after Redis returned gets the saved answer.
    snapshot = asyncio.run(sync_over_socket(server, conversation_id))
    assert snapshot["message"]["content"] == expected_text(300)
    assert snapshot["message"]["status"] == "done"


def alices_socket(server: Daphne, conversation_id: int) -> Any:
    """`async with alices_socket(...) as socket`: alice signed in, on the conversation."""
    with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    return connect(
        f"{server.ws_url}/ws/conversations/{conversation_id}/",
        origin=server.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        open_timeout=10,
    )


async def sync_over_socket(server: Daphne, conversation_id: int) -> dict[str, Any]:
    async with alices_socket(server, conversation_id) as socket:
        await socket.send(json.dumps({"type": "sync"}))
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await socket.recv())
                if frame["type"] == "snapshot":
                    return dict(frame)
