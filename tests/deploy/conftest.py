"""The production shape on one machine: two daphne instances, PostgreSQL, Redis, nginx.

Nothing is mocked. A session-wide `stack` fixture:

1. creates a fresh PostgreSQL database (chatweb_deploy_<pid>, dropped afterwards) and
   migrates it once, as the compose `migrate` service does;
2. collects static files into a temporary STATIC_ROOT, as the Docker image build does;
3. starts the fake OpenAI-compatible upstream (tests/upstream.py) in this process, so
   tests can see its recorded requests;
4. starts two daphne processes (instances A and B) on free loopback ports, each after
   `recover_streams` as in the image, sharing one Redis database as the channel layer;
5. renders nginx/chatweb.conf.template with those two instances as upstreams and runs
   Debian's nginx on it (`nginx -t` first).

PostgreSQL, Redis and nginx must be running/installed: `bash scripts/ci-services.sh`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from tests.servers import Daphne, free_port, manage
from tests.upstream import FakeUpstream

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_TEMPLATE = ROOT / "nginx" / "chatweb.conf.template"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# A Redis database of its own, so the run neither sees nor disturbs `make test-pg` (db 0).
# DEPLOY_REDIS_URL lets two checkouts run this suite side by side on one machine.
REDIS_URL = os.environ.get("DEPLOY_REDIS_URL", "redis://127.0.0.1:6379/7")
STARTUP_TIMEOUT = 30.0
SECRET_KEY = "deploy-test-secret-key-shared-by-every-instance"
STAFF_USERNAME = "deploy-admin"
CONVERSATIONS = 6


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path.name}: nothing written)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- {path.name} ---\n" + "\n".join(text)


def _stop(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def render_nginx_config(*, listen: str, upstreams: list[str]) -> str:
    """The project's config with its two placeholders filled, as envsubst would."""
    servers = " ".join(f"server {address};" for address in upstreams)
    return (
        NGINX_TEMPLATE.read_text()
        .replace("${CHATWEB_UPSTREAM_SERVERS}", servers)
        .replace("${CHATWEB_LISTEN}", listen)
    )


def nginx_main_config(directory: Path, site_config: Path) -> str:
    """A minimal main config around the site config, everything inside `directory`.

    It plays the part of the official image's /etc/nginx/nginx.conf, which includes
    conf.d/*.conf in its http block.
    """
    # As root, the workers would run as nobody and could not reach pytest's private
    # temporary directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {site_config};
}}
"""


@dataclass
class Nginx:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None:
            # SIGQUIT: graceful shutdown, without waiting for open sockets forever.
            _stop(self.process, sig=signal.SIGQUIT)


def start_nginx(directory: Path, site: str) -> Nginx:
    """Run nginx on `site` (a rendered chatweb.conf) after `nginx -t` accepts it."""
    directory.mkdir(parents=True, exist_ok=True)
    port = int(site.split("listen 127.0.0.1:", 1)[1].split()[0])
    site_config = directory / "chatweb.conf"
    site_config.write_text(site)
    main_config = directory / "nginx.conf"
    main_config.write_text(nginx_main_config(directory, site_config))
    command = [
        NGINX,
        "-p",
        str(directory),
        "-c",
        str(main_config),
        "-e",
        str(directory / "error.log"),
    ]
    check = subprocess.run(
        [*command, "-t"], capture_output=True, text=True, timeout=30, check=False
    )
    assert check.returncode == 0, f"nginx -t rejected the config:\n{check.stderr}"
    nginx = Nginx(port, directory)
    with (directory / "stderr.log").open("wb") as log:
        nginx.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if nginx.process.poll() is not None:
            raise AssertionError("nginx exited at start:\n" + _tail(directory / "error.log"))
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return nginx
        if time.monotonic() > deadline:
            nginx.stop()
            raise AssertionError("nginx did not listen in time:\n" + _tail(directory / "error.log"))
        time.sleep(0.05)


@dataclass
class Stack:
    env: dict[str, str]
    upstream: FakeUpstream
    instances: list[Daphne]
    nginx: Nginx
    directory: Path
    session_key: str = ""
    conversations: list[int] = field(default_factory=list)

    @property
    def cookies(self) -> dict[str, str]:
        return {"sessionid": self.session_key}

    def cookie_header(self) -> str:
        return f"sessionid={self.session_key}"

    def take_conversation(self) -> int:
        """A conversation no other test has used (an answer may still stream in one)."""
        return self.conversations.pop()

    def logs(self) -> str:
        return "\n".join(_tail(instance.log_path) for instance in self.instances)


# Runs in a subprocess against the deployment's database (this pytest process has its own
# settings and test database).
_SEED = f"""
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from conversations.models import Conversation

user = get_user_model().objects.create_user(
    {STAFF_USERNAME!r}, password="deploy-password-1", is_staff=True, is_superuser=True
)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
ids = [
    Conversation.objects.create(user=user, title=f"Deploy {{i}}", model="fake-model").pk
    for i in range({CONVERSATIONS})
]
print(json.dumps({{"session": session.session_key, "conversations": ids}}))
"""


def _wait_healthy(instance: Daphne) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            raise AssertionError(f"{instance.name} exited at start:\n{_tail(instance.log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{instance.base_url}/healthz/", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{instance.name} was not healthy in time:\n{_tail(instance.log_path)}")


def _require_services() -> None:
    missing = []
    if not Path(NGINX).exists():
        missing.append("nginx")
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error:
        missing.append("PostgreSQL on 127.0.0.1:5432")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError:
        missing.append("Redis on 127.0.0.1:6379")
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `bash scripts/ci-services.sh` first")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _require_services()
    directory = tmp_path_factory.mktemp("deploy")
    database = f"chatweb_deploy_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    redis.Redis.from_url(REDIS_URL).flushdb()
    upstream = FakeUpstream().start()
    instances: list[Daphne] = []
    nginx: Nginx | None = None
    try:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "PYTEST_"))
        }
        env.update(
            {
                "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
                "REDIS_URL": REDIS_URL,
                "SECRET_KEY": SECRET_KEY,
                "DATA_DIR": str(directory / "data"),
                "STATIC_ROOT": str(directory / "static"),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DEBUG": "false",
                "OPENAI_API_BASE_URL": upstream.base_url,
                "OPENAI_API_KEY": "sk-deploy-test-key",
                "OPENAI_API_MODEL": "fake-model",
                "AUTO_TITLE": "false",
                "MAX_REQUEST_PER_HOUR": "0",
                "TIMEOUT_MS": "20000",
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        seed = json.loads(manage(env, "shell", "-c", _SEED).strip().splitlines()[-1])

        for name in ("a", "b"):
            instance_env = {**env, "INSTANCE_ID": f"deploy-{name}"}
            manage(instance_env, "recover_streams")
            instances.append(Daphne(instance_env, directory / f"daphne-{name}.log", name))
        for instance in instances:
            _wait_healthy(instance)

        site = render_nginx_config(
            listen=f"127.0.0.1:{free_port()}",
            upstreams=[f"127.0.0.1:{instance.port}" for instance in instances],
        )
        nginx = start_nginx(directory / "nginx", site)
        yield Stack(
            env=env,
            upstream=upstream,
            instances=instances,
            nginx=nginx,
            directory=directory,
            session_key=seed["session"],
            conversations=seed["conversations"],
        )
    finally:
        if nginx is not None:
            nginx.stop()
        for instance in instances:
            instance.stop()
        upstream.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        redis.Redis.from_url(REDIS_URL).flushdb()


def buffering_variant(site: str) -> str:
    """The site config with the self-test's HTTP stream buffered, as a careless proxy does.

    proxy_buffering on with X-Accel-Buffering ignored, and gzip on for the stream. Measured
    with Debian's nginx 1.22: buffering alone still forwards each chunk of daphne's chunked
    HTTP/1.1 response as it comes; buffering with compression holds the whole stream to the
    end. The project's config turns both off on streams.
    """
    location = "location = /admin-tools/diagnostics/stream/ {"
    head, tail = site.split(location, 1)
    body, rest = tail.split("}", 1)
    assert body.count("proxy_buffering off;") == 1
    assert body.count("gzip off;") == 1
    body = body.replace(
        "proxy_buffering off;",
        "proxy_buffering on;\n        proxy_ignore_headers X-Accel-Buffering;\n"
        "        proxy_buffer_size 64k;\n        proxy_buffers 8 64k;",
    ).replace("gzip off;", "gzip on;\n        gzip_types application/x-ndjson;")
    return head + location + body + "}" + rest


@pytest.fixture(scope="session")
def buffering_nginx(stack: Stack) -> Iterator[Nginx]:
    """A second nginx in front of the same instances, buffering the HTTP stream."""
    site = render_nginx_config(
        listen=f"127.0.0.1:{free_port()}",
        upstreams=[f"127.0.0.1:{instance.port}" for instance in stack.instances],
    )
    nginx = start_nginx(stack.directory / "nginx-buffering", buffering_variant(site))
    try:
        yield nginx
    finally:
        nginx.stop()
