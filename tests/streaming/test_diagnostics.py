"""healthz and the streaming self-test (streaming/diagnostics.py)."""

from __future__ import annotations

import json
import time

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient, Client
from django.urls import reverse

from streaming import diagnostics
from tests.deploy.streamcheck import Arrival, classify

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("root", password="x", is_staff=True)


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("bob", password="x")


# --- healthz ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_reports_database_and_channel_layer_ok(client: Client) -> None:
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.asyncio
async def test_the_channel_layer_check_leaves_no_channel_behind() -> None:
    """With Redis pub/sub, each probe (every 10 s in the image) would keep a subscription."""
    from channels.layers import get_channel_layer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    layer = get_channel_layer()

    def local_channels() -> set[str]:
        if isinstance(layer, RedisPubSubChannelLayer):
            return set(layer._get_layer().channels)
        return set(layer.channels)

    before = local_channels()
    await diagnostics._check_channel_layer()
    assert local_channels() == before


@pytest.mark.django_db
def test_healthz_is_503_naming_a_failed_channel_layer(client: Client, monkeypatch) -> None:
    monkeypatch.setattr(diagnostics, "get_channel_layer", lambda: None)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "channel_layer": "error"}


@pytest.mark.django_db
def test_healthz_is_503_naming_a_failed_database_without_the_cause(
    client: Client, monkeypatch
) -> None:
    def unreachable() -> None:
        raise OSError("could not connect to server db.internal:5432")

    monkeypatch.setattr(diagnostics, "_query_database", unreachable)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"database": "error", "channel_layer": "ok"}
    assert b"db.internal" not in response.content


# --- the page -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_diagnostics_page_sends_anonymous_users_to_the_admin_login(client: Client) -> None:
    response = client.get(reverse("diagnostics"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_diagnostics_page_refuses_a_user_who_is_not_staff(client: Client, member) -> None:
    client.force_login(member)
    response = client.get(reverse("diagnostics"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_diagnostics_page_loads_the_self_test_for_staff(client: Client, staff, settings) -> None:
    # The page uses the admin's stylesheets; without collectstatic, plain storage names them.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client.force_login(staff)
    response = client.get(reverse("diagnostics"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "js/diagnostics" in page
    assert 'data-ws-path="/ws/diagnostics/"' in page
    assert f'data-stream-url="{reverse("diagnostics_stream")}"' in page


# --- the HTTP stream ----------------------------------------------------------------------


@pytest.mark.django_db
def test_diagnostics_stream_refuses_a_user_who_is_not_staff(client: Client, member) -> None:
    client.force_login(member)
    response = client.get(reverse("diagnostics_stream"))
    assert response.status_code == 302


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_diagnostics_stream_sends_its_events_spread_over_time(staff) -> None:
    client = AsyncClient()
    await client.aforce_login(staff)
    response = await client.get(reverse("diagnostics_stream"))
    assert response.status_code == 200
    assert response["X-Accel-Buffering"] == "no"
    assert "no-cache" in response["Cache-Control"]

    events = []
    async for chunk in response.streaming_content:  # type: ignore[attr-defined]
        arrived = time.monotonic() * 1000
        for line in chunk.splitlines():
            event = json.loads(line)
            events.append(Arrival(event["i"], event["sent"], arrived))

    assert [e.index for e in events] == list(range(diagnostics.SELF_TEST_EVENTS))
    assert classify(events, diagnostics.SELF_TEST_EVENTS) == "ok"


def test_the_verdict_tells_spread_arrivals_from_a_burst() -> None:
    sent = [i * 200.0 for i in range(10)]
    spread = [Arrival(i, s, 5000 + s + 3) for i, s in enumerate(sent)]
    burst = [Arrival(i, s, 7000.0) for i, s in enumerate(sent)]
    assert classify(spread, 10) == "ok"
    assert classify(burst, 10) == "buffered"
    assert classify(spread[:4], 10) == "incomplete"


# --- the WebSocket ------------------------------------------------------------------------


def _communicator(cookie: tuple[bytes, bytes]) -> WebsocketCommunicator:
    # Imported here: building the application loads the middleware, which expects the
    # test settings (STATIC_ROOT) in place.
    from chatweb.asgi import application

    return WebsocketCommunicator(application, "/ws/diagnostics/", headers=[ORIGIN, cookie])


async def _session_cookie(user) -> tuple[bytes, bytes]:
    client = AsyncClient()
    await client.aforce_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_diagnostics_socket_refuses_a_user_who_is_not_staff(member) -> None:
    communicator = _communicator(await _session_cookie(member))
    try:
        connected, code = await communicator.connect()
        assert not connected
        assert code == diagnostics.CLOSE_FORBIDDEN
    finally:
        await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_diagnostics_socket_sends_staff_ten_timestamped_frames(staff) -> None:
    communicator = _communicator(await _session_cookie(staff))
    try:
        connected, _ = await communicator.connect()
        assert connected
        events = []
        for _ in range(diagnostics.SELF_TEST_EVENTS):
            frame = await communicator.receive_json_from(timeout=2)
            events.append(Arrival(frame["i"], frame["sent"], time.monotonic() * 1000))
        assert await communicator.receive_json_from(timeout=2) == {
            "type": "end",
            "n": diagnostics.SELF_TEST_EVENTS,
        }
    finally:
        await communicator.disconnect()

    assert [e.index for e in events] == list(range(diagnostics.SELF_TEST_EVENTS))
    assert classify(events, diagnostics.SELF_TEST_EVENTS) == "ok"
