"""Health and streaming self-test: what an operator checks about whatever sits in front of us.

`healthz` is for container healthchecks and load balancers: it proves this process can
reach the database and the channel layer (Redis when scaled out), and reveals nothing else.

The diagnostics page is for admins whose typing effect is gone. It opens a WebSocket and
an HTTP stream through the operator's own proxy; both send SELF_TEST_EVENTS small events
SELF_TEST_INTERVAL apart, stamped with the server's send time, and the page (static/js/
diagnostics.js) compares how spread out their arrival is with how spread out they were
sent. A buffering proxy delivers them all at once, and the page names the fix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.sockets import signed_in_user
from streaming import layers

logger = logging.getLogger(__name__)

SELF_TEST_EVENTS = 10
SELF_TEST_INTERVAL = 0.2  # seconds
# A check that takes longer than this counts as failed: a healthcheck must answer promptly.
HEALTH_TIMEOUT = 3.0
# Close code for a WebSocket handshake refused to a non-staff user (4000-4999: ours).
CLOSE_FORBIDDEN = 4403


def _query_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _check_database() -> None:
    # A view, not a long-lived consumer: Django's request signals manage the connection,
    # so plain sync_to_async (not channels' database_sync_to_async) is enough.
    await sync_to_async(_query_database)()


async def _check_channel_layer() -> None:
    """Send a message to a fresh channel and read it back: the same path a delta takes."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    # The default prefix on purpose: channels-redis reads every process-local channel of a
    # prefix through one shared list, and a receiver on another prefix would hold that
    # reader for seconds, starving the sockets of this process.
    channel = await layer.new_channel()
    nonce = uuid.uuid4().hex
    try:
        await layer.send(channel, {"type": "healthz.ping", "nonce": nonce})
        message = await layer.receive(channel)
    finally:
        # With Redis pub/sub, a channel nobody releases stays subscribed: one per probe.
        await layers.release_channel(layer, channel)
    if message.get("nonce") != nonce:
        raise RuntimeError("the channel layer returned another message")


@require_GET
@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    """200 {"database": "ok", "channel_layer": "ok"}, or 503 naming the part that failed.

    Failures are logged with their cause; the response says only "error" (or "timeout"),
    since this endpoint is unauthenticated and an exception text may hold a hostname.
    """
    checks = {"database": _check_database, "channel_layer": _check_channel_layer}
    result: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), timeout=HEALTH_TIMEOUT)
        except TimeoutError:
            logger.warning("healthz: %s check timed out after %ss", name, HEALTH_TIMEOUT)
            result[name] = "timeout"
        except Exception:
            logger.exception("healthz: %s check failed", name)
            result[name] = "error"
        else:
            result[name] = "ok"
    healthy = all(status == "ok" for status in result.values())
    return JsonResponse(result, status=200 if healthy else 503)


@require_GET
@staff_member_required
def diagnostics(request: HttpRequest) -> HttpResponse:
    """The streaming self-test page (admins only: it is a tool, and it costs a socket)."""
    context = {
        **admin.site.each_context(request),
        "title": _("Streaming self-test"),
        "events": SELF_TEST_EVENTS,
        "interval_ms": int(SELF_TEST_INTERVAL * 1000),
    }
    return render(request, "streaming/diagnostics.html", context)


def self_test_event(index: int) -> dict[str, Any]:
    """One self-test event, stamped with the server's send time in milliseconds."""
    return {"type": "tick", "i": index, "n": SELF_TEST_EVENTS, "sent": time.time() * 1000}


async def _self_test_lines() -> AsyncIterator[bytes]:
    for index in range(SELF_TEST_EVENTS):
        if index:
            await asyncio.sleep(SELF_TEST_INTERVAL)
        yield json.dumps(self_test_event(index)).encode() + b"\n"


@require_GET
@staff_member_required
async def diagnostics_stream(request: HttpRequest) -> StreamingHttpResponse:
    """An HTTP stream of SELF_TEST_EVENTS JSON lines, one every SELF_TEST_INTERVAL.

    X-Accel-Buffering: no asks nginx not to buffer this response even where
    proxy_buffering is on; the page still reports a proxy that ignores it.
    """
    response = StreamingHttpResponse(_self_test_lines(), content_type="application/x-ndjson")
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"
    return response


class DiagnosticsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Sends the self-test events over a WebSocket to a staff user, then says "end"."""

    _ticker: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user: Any = await signed_in_user(self.scope)
        if not user.is_authenticated or not user.is_staff:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        # A consumer handles one event at a time: the ticks run beside it, so a
        # disconnect is handled at once (and cancels them).
        self._ticker = asyncio.create_task(self._send_ticks())

    async def _send_ticks(self) -> None:
        for index in range(SELF_TEST_EVENTS):
            if index:
                await asyncio.sleep(SELF_TEST_INTERVAL)
            await self.send_json(self_test_event(index))
        await self.send_json({"type": "end", "n": SELF_TEST_EVENTS})

    async def disconnect(self, code: int) -> None:
        if self._ticker is not None:
            self._ticker.cancel()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The self-test needs nothing from the client; whatever it sends is ignored."""
