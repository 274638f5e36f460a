"""A server killed mid-answer leaves that answer interrupted on restart, never streaming."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.servers import Daphne, app_env, copy_database, csrf_post, manage, sign_in
from tests.upstream import FakeUpstream, expected_text

# Real processes: each test starts daphne (tests/servers.py).
pytestmark = pytest.mark.slow


def answer_row(db: Path) -> tuple[str, str, str]:
    with sqlite3.connect(db) as connection:
        row = connection.execute(
            "SELECT status, content, error_code FROM conversations_message "
            "WHERE role = 'assistant' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return row or ("", "", "")


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_server_leaves_its_answer_interrupted_after_restart(
    tmp_path: Path, fake_upstream: FakeUpstream, static_root: Path, alices_database: Path
):
    env = app_env(
        tmp_path,
        static_root,
        OPENAI_API_BASE_URL=fake_upstream.base_url,
        INSTANCE_ID="recovery-test",
        CHECKPOINT_SECONDS="0.2",
    )
    copy_database(alices_database, tmp_path)
    server = Daphne(env, tmp_path / "daphne.log")
    try:
        with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
            created = csrf_post(client, "/c/new/", {"text": "[[fake tokens=400 delay=0.02]]"})
        assert created.status_code == 302, created.text[:500]
        db = tmp_path / "db.sqlite3"
        # Wait for a checkpoint of real text, then kill the server without warning.
        wait_for(lambda: len(answer_row(db)[1]) > 20, 10, "a checkpoint")
        server.kill()
    finally:
        server.stop()

    status, content, _ = answer_row(db)
    assert status == "streaming", "a killed process cannot have ended the answer"
    request = fake_upstream.chat_requests[0]
    assert request.finished.wait(5)
    assert request.client_disconnected

    # What `make run` and the Docker image do before daphne starts.
    assert "1 interrupted" in manage(env, "recover_streams")
    status, recovered, error_code = answer_row(db)
    assert (status, error_code) == ("interrupted", "interrupted")
    assert recovered == content
    assert expected_text(400).startswith(recovered)

    # A restarted server shows it, with the partial text kept.
    server = Daphne(env, tmp_path / "daphne-2.log")
    try:
        with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
            page = client.get("/c/1/")
        assert page.status_code == 200
        assert "r0w0" in page.text
    finally:
        server.stop()


def test_a_server_stopped_with_sigterm_saves_its_answer_as_interrupted(
    tmp_path: Path, fake_upstream: FakeUpstream, static_root: Path, alices_database: Path
):
    # docker stop / compose recreate send SIGTERM: the process keeps the text so far
    # and ends the answer itself, before any recover_streams runs.
    env = app_env(tmp_path, static_root, OPENAI_API_BASE_URL=fake_upstream.base_url)
    copy_database(alices_database, tmp_path)
    server = Daphne(env, tmp_path / "daphne.log")
    db = tmp_path / "db.sqlite3"
    try:
        with closing(sign_in(server.url, "alice", "alice-password-1")) as client:
            created = csrf_post(client, "/c/new/", {"text": "[[fake tokens=400 delay=0.02]]"})
            assert created.status_code == 302, created.text[:500]
        wait_for(lambda: fake_upstream.chat_requests and
                 fake_upstream.chat_requests[0].tokens_sent > 30, 10, "tokens")  # fmt: skip
        server.process.terminate()
        assert server.process.wait(timeout=15) is not None
    finally:
        server.stop()

    status, content, error_code = answer_row(db)
    assert (status, error_code) == ("interrupted", "interrupted"), server.log_path.read_text()
    # More than the last checkpoint: what the process held in memory was saved.
    assert content.count("w") >= 30
    assert expected_text(400).startswith(content)
