"""Real server processes for tests: a migrated SQLite app directory and daphne on a free port."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from chatweb import backends
from tests import isolation

ROOT = Path(__file__).resolve().parents[1]

# Debian's Chromium (never a downloaded browser); without the background-networking
# switches it keeps trying to reach the internet, which this machine refuses.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_env(data_dir: Path, static_root: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a Chatweb process on its own SQLite database in data_dir.

    static_root: where collectstatic put the assets (the static_root fixture).
    """
    # No .env, none of the caller's app variables (tests/isolation.py), and not the
    # suite's own configuration either: this process runs on SQLite in data_dir.
    env = {
        k: v
        for k, v in isolation.clean(os.environ).items()
        if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    env.update(
        DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
        SECRET_KEY="test-secret-key-for-a-subprocess-only",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        OPENAI_API_MODEL="fake-model",
        AUTO_TITLE="false",
        PYTHONUNBUFFERED="1",
    )
    if static_root is not None:
        env["STATIC_ROOT"] = str(static_root)
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def migrate_with_user(env: dict[str, str], username: str, password: str) -> None:
    """migrate, then create this user: in one Django start (each start of manage.py is a
    second or two here)."""
    manage(
        env,
        "shell",
        "-c",
        "from django.core.management import call_command; "
        "call_command('migrate', interactive=False, verbosity=0); "
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({username!r}, password={password!r})",
    )


def copy_database(database: Path, data_dir: Path) -> None:
    """Put a copy of a prepared SQLite database (the alices_database fixture) where a
    process on data_dir (app_env) finds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(database, data_dir / "db.sqlite3")


def create_user(env: dict[str, str], username: str, password: str) -> None:
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({username!r}, password={password!r})",
    )


class Daphne:
    """One real daphne process serving chatweb.asgi on 127.0.0.1, started as the image does
    (streaming.server: daphne with a bounded outgoing buffer per socket)."""

    def __init__(self, env: dict[str, str], log_path: Path, name: str = "daphne") -> None:
        self.name = name
        self.env = env  # For tests that set up more data with manage().
        self.port = free_port()
        self.url = self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streaming.server", "-b", "127.0.0.1", "-p", str(self.port),
             "--proxy-headers", "chatweb.asgi:application"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            self._wait_ready()
        except BaseException:
            # Not left running (nor its log open) for a later test's ResourceWarning.
            self.stop()
            raise

    # A generous bound, reached only when daphne is not coming up: a start takes seconds,
    # but several times longer on a busy machine (CI runs suites side by side).
    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log_path.read_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(f"daphne did not start: {self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as when a server is killed for real."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def sign_in(base_url: str, username: str, password: str) -> httpx.Client:
    """An httpx client signed in through the real login page (CSRF included)."""
    client = httpx.Client(base_url=base_url, timeout=10, follow_redirects=False)
    page = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    response = client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
        headers={"Referer": f"{base_url}/accounts/login/"},
    )
    assert response.status_code == 302, response.text[:500]
    return client


def csrf_post(client: httpx.Client, path: str, data: dict[str, str]) -> httpx.Response:
    token = client.cookies["csrftoken"]
    return client.post(
        path,
        data={**data, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{client.base_url}/"},
    )


class S3Server:
    """moto's S3-compatible server as a process of its own on 127.0.0.1: a real HTTP S3 API
    (no patched client), reached by django-storages through ATTACHMENT_S3_ENDPOINT_URL."""

    REGION = "us-east-1"
    ACCESS_KEY = "test-access-key"
    SECRET_KEY = "test-secret-key"

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_path.open("w")
        self.log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            cwd=ROOT, env=isolation.clean(os.environ), stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto exited: {self.log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.url}/", timeout=1)
                return
            time.sleep(0.1)
        raise RuntimeError(f"moto did not start: {self.log_path.read_text()}")

    def client(self) -> Any:
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.REGION,
            aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.SECRET_KEY,
        )

    def storage_options(self, bucket: str) -> dict[str, object]:
        """STORAGES["attachments"] as chatweb/settings.py makes it for ATTACHMENT_STORAGE=s3."""
        return backends.attachments(
            "s3",
            data_dir=Path("/unused"),
            bucket=bucket,
            endpoint_url=self.url,
            region=self.REGION,
            access_key_id=self.ACCESS_KEY,
            secret_access_key=self.SECRET_KEY,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
