"""Shared fixtures: personas (alice owns, bob is an outsider), the real fake upstream,
and authenticated WebSocket communicators through the real ASGI application."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connections
from django.test import Client

from catalog import snapshot
from conversations.models import Conversation
from modelclient import providers
from streaming.registry import registry
from tests.upstream import FakeUpstream, fake_upstream, fake_upstream_server  # noqa: F401

# make e2e and make test-deploy collect only their folder (collecting all ~2,000 tests to
# keep their few took ~8 s of CPU per suite): a test marked for them elsewhere would never
# run, so every other run (make test collects everything) refuses one.
SUITE_FOLDERS = {"e2e": "tests/e2e/", "deploy": "tests/deploy/"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    misplaced = [
        f"{item.nodeid} is marked {marker} but is not under {folder}"
        for item in items
        for marker, folder in SUITE_FOLDERS.items()
        if item.get_closest_marker(marker)
        and not Path(str(item.path)).relative_to(root).as_posix().startswith(folder)
    ]
    if misplaced:
        raise pytest.UsageError("\n".join(misplaced))


@pytest.fixture(autouse=True)
def _test_settings(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Each test's attachments in a folder of its own (#21), never the checkout's data/.
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path_factory.mktemp("attachments")},
        },
    }
    # A model-made title is one more upstream request; the tests that want it opt in.
    settings.AUTO_TITLE = False
    settings.OPENAI_API_MODELS = ["fake-model", "fake-model-2"]
    settings.MAX_REQUEST_PER_HOUR = 0
    settings.MAX_CONCURRENT_ANSWERS = 0
    # Every persona is a new user (and many tests sign in): with the production hasher
    # (PBKDF2, slow on purpose) 132 tests of tests/catalog and tests/streaming took 110 s,
    # 42 s without (issue 16). Server processes (tests/servers.py) keep the real one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Throttle and quota counters, sessions and the catalog's version live in the caches,
    # under ids a rolled-back test hands to the next: each test starts with every cache
    # empty, and leaves them so.
    clear_caches()
    # The catalog's in-memory copy: a test's rows vanish with its transaction, unsignalled.
    snapshot.forget()
    yield
    clear_caches()


def clear_caches() -> None:
    """Every configured cache alias emptied (the default and the catalog's version)."""
    for alias in django_settings.CACHES:
        caches[alias].clear()


@pytest.fixture(scope="session", autouse=True)
def _no_connection_outlives_the_session(django_db_setup: None) -> Iterator[None]:
    """The persistent connection (CONN_MAX_AGE) of asgiref's shared thread is closed.

    Socket and answer database work runs on asgiref's one thread-sensitive thread, which
    keeps its connection open; the test database cannot be dropped while it is.
    """
    from asgiref.sync import SyncToAsync

    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=30)


@pytest.fixture(scope="session")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """collectstatic once per session, for the tests that run real server processes."""
    from tests.servers import app_env, manage

    root = tmp_path_factory.mktemp("static")
    manage(app_env(root, STATIC_ROOT=str(root)), "collectstatic", "--noinput", "-v", "0")
    return root


@pytest.fixture(scope="session")
def alices_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database holding alice (password alice-password-1), made once per
    session; a test that starts server processes copies it (tests.servers.copy_database)
    instead of migrating and creating her itself (two Django starts a test)."""
    from tests.servers import app_env, migrate_with_user

    root = tmp_path_factory.mktemp("alices-database")
    migrate_with_user(app_env(root), "alice", "alice-password-1")
    return root / "db.sqlite3"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """moto's S3-compatible server, one process for the session (tests.servers.S3Server)."""
    from tests.servers import S3Server

    server = S3Server(tmp_path_factory.mktemp("s3") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_attachments(s3_server: Any, settings: Any, request: pytest.FixtureRequest) -> Any:
    """This test's attachments in a bucket of their own on the S3 server: the bucket's
    boto3 client and name, as `(client, bucket)`."""
    import re

    bucket = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") + "-files"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {**settings.STORAGES, "attachments": s3_server.storage_options(bucket)}
    return client, bucket


@pytest.fixture
def upstream(fake_upstream: FakeUpstream, settings: Any) -> FakeUpstream:  # noqa: F811
    """The real local OpenAI-compatible server, configured as the app's upstream."""
    settings.OPENAI_API_BASE_URL = fake_upstream.base_url
    settings.OPENAI_API_KEY = "sk-test-secret-key-never-shown"
    settings.TIMEOUT_MS = 5000
    return fake_upstream


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", password="bob-password-1")


@pytest.fixture
def alice_client(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def conversation(alice: Any) -> Conversation:
    return Conversation.objects.create(user=alice, title="New chat", model="fake-model")


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    # Each test runs its own event loop; channels-redis keeps per-loop state (its
    # receive buffer), so a layer must not outlive the test that made it.
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest_asyncio.fixture
async def live() -> AsyncIterator[None]:
    """Whatever answers a test starts are ended, and what they opened closed, afterwards."""
    yield
    await registry.shutdown()
    await providers.aclose_clients()
    # The worker thread's database connection, or PostgreSQL cannot drop the test database.
    await sync_to_async(connections.close_all)()
    layer = get_channel_layer()
    if hasattr(layer, "close_pools"):  # channels-redis: its pools belong to this loop
        await layer.close_pools()


Connect = Callable[..., Any]


@pytest_asyncio.fixture
async def connect(live: None) -> AsyncIterator[Connect]:
    """connect(user, conversation_id) -> a connected WebsocketCommunicator (disconnected after)."""
    from chatweb.asgi import application

    opened: list[WebsocketCommunicator] = []

    async def _connect(
        user: Any | None, conversation_id: int, *, expect: bool = True, origin: bytes | None = None
    ) -> WebsocketCommunicator | tuple[bool, int | None]:
        headers = [(b"origin", origin or b"http://testserver")]
        if user is not None:
            client = Client()
            await sync_to_async(client.force_login)(user)
            cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
            headers.append((b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        communicator = WebsocketCommunicator(
            application, f"/ws/conversations/{conversation_id}/", headers=headers
        )
        connected, code = await communicator.connect(timeout=5)
        if not expect:
            return connected, code
        assert connected, f"refused with {code}"
        opened.append(communicator)
        # An accepted socket starts with the conversation's current title (docs/protocol.md);
        # a refused one with its close, which the test reads itself.
        first = await communicator.receive_output(timeout=5)
        if first["type"] != "websocket.send" or '"type": "title"' not in first.get("text", ""):
            communicator.output_queue.put_nowait(first)
        return communicator

    yield _connect
    for communicator in opened:
        with contextlib.suppress(Exception):
            await communicator.disconnect()


async def frames_until(
    communicator: WebsocketCommunicator,
    stop: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = 10,
) -> list[dict[str, Any]]:
    """Collect frames until one matches `stop` (included)."""
    import asyncio

    collected: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await communicator.receive_json_from(timeout=timeout)
            collected.append(frame)
            if stop(frame):
                return collected


def is_done(frame: dict[str, Any]) -> bool:
    return bool(frame["type"] == "done")


@dataclass
class CapturedFrames:
    """What was sent through the channel layer's group_send: (group, event), in order."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def frames(self, type: str | None = None, *, group: str | None = None) -> list[dict[str, Any]]:
        """The socket frames ("chat.frame" events' frame) sent, of this frame type and to
        this group if given."""
        return [
            event["frame"]
            for to, event in self.sent
            if event.get("type") == "chat.frame"
            and (group is None or to == group)
            and (type is None or event["frame"].get("type") == type)
        ]

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Every event sent (frames, closes, stops, snapshot requests), of this event type."""
        return [event for _, event in self.sent if type is None or event.get("type") == type]


CaptureFrames = Callable[..., contextlib.AbstractContextManager[CapturedFrames]]


@pytest.fixture
def capture_frames(django_capture_on_commit_callbacks: Any) -> CaptureFrames:
    """`with capture_frames() as captured:` records every group_send made through the
    channel layer during the block (from any module, sync or async), and still sends it.

    It wraps the layer object's own group_send (the in-memory layer's or Redis's alike),
    so it does not depend on which of our modules publishes. Frames published after
    commit are sent when the block ends in a test that runs inside a transaction (as
    pytest-django's `django_db` does); in a `transaction=True` test they go at commit.
    """

    @contextlib.contextmanager
    def capture(alias: str = DEFAULT_CHANNEL_LAYER) -> Iterator[CapturedFrames]:
        layer = get_channel_layer(alias)
        assert layer is not None, f"no channel layer {alias!r}"
        captured = CapturedFrames()
        send = layer.group_send

        async def group_send(group: str, message: dict[str, Any]) -> None:
            captured.sent.append((group, copy.deepcopy(message)))
            await send(group, message)

        layer.group_send = group_send
        try:
            with django_capture_on_commit_callbacks(execute=True):
                yield captured
        finally:
            del layer.group_send  # the class's own again

    return capture


@pytest.fixture
def sql_writes() -> Iterator[list[str]]:
    """Every INSERT/UPDATE statement on the messages table, from any thread."""
    from django.db.backends import utils

    statements: list[str] = []
    original = utils.CursorWrapper.execute

    def execute(self: Any, sql: str, params: Any = None) -> Any:
        text = sql.lstrip().upper()
        if text.startswith(("INSERT", "UPDATE")) and "CONVERSATIONS_MESSAGE" in text:
            statements.append(sql)
        return original(self, sql, params)

    utils.CursorWrapper.execute = execute  # type: ignore[method-assign,assignment]
    try:
        yield statements
    finally:
        utils.CursorWrapper.execute = original  # type: ignore[method-assign]
