"""Where an upload's conversion runs (#21, item 7): a worker thread, never the event loop
(it would stop every other chat's stream) nor the database thread (it would stop every
other request's queries). The upload goes through the real ASGI application and is held
while it converts, so the test sees what else can run meanwhile."""

from __future__ import annotations

import asyncio
import io
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator
from django.conf import settings
from django.db.models.signals import post_save
from django.test import Client
from PIL import Image

from conversations import attachments
from conversations.models import Attachment

# A CSRF secret as the browser holds it in its cookie and echoes in X-CSRFToken.
CSRF = "bench0csrf0secret0of032characters"[:32]
HOLD = 30.0  # seconds a held step waits before it gives up (a failure, not a measure)


def large_png() -> bytes:
    """A 3000 x 2000 image: decoded, scaled and re-encoded, a few hundred ms of CPU."""
    image = Image.linear_gradient("L").resize((3000, 2000)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "chatweb-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class Held:
    """Holds the upload's conversion at its start, in whichever thread it runs, and notes
    that thread; also notes the thread the attachment's row is saved in."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.converting_thread: int | None = None
        self.converting_nice: int | None = None
        self.saving_thread: int | None = None

    def on_converting(self, sender: Any, name: str, **kwargs: Any) -> None:
        self.converting_thread = threading.get_ident()
        self.converting_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        self.started.set()
        self.release.wait(HOLD)

    def on_saved(self, sender: Any, **kwargs: Any) -> None:
        self.saving_thread = threading.get_ident()


@pytest.fixture
def held() -> Iterator[Held]:
    watcher = Held()
    attachments.converting.connect(watcher.on_converting)
    post_save.connect(watcher.on_saved, sender=Attachment)
    yield watcher
    watcher.release.set()
    attachments.converting.disconnect(watcher.on_converting)
    post_save.disconnect(watcher.on_saved, sender=Attachment)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_image_converts_in_a_worker_thread_while_the_loop_and_database_serve_others(
    alice: Any, held: Held, live: None
) -> None:
    from chatweb.asgi import application

    client = Client()
    await sync_to_async(client.force_login)(alice)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    body, content_type = multipart("large.png", await asyncio.to_thread(large_png))
    upload = HttpCommunicator(
        application,
        "POST",
        "/attachments/",
        body=body,
        headers=[
            (b"host", b"testserver"),
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}; csrftoken={CSRF}".encode()),
            (b"x-csrftoken", CSRF.encode()),
        ],
    )
    loop_thread = threading.get_ident()
    response = asyncio.create_task(upload.get_response(timeout=2 * HOLD))

    # The conversion has begun and is held. Were it on the loop, nothing below could run
    # until HOLD ran out; were it on the database thread, the query could not.
    started = asyncio.ensure_future(asyncio.to_thread(held.started.wait, HOLD))
    await asyncio.wait({started, response}, return_when=asyncio.FIRST_COMPLETED)
    assert not response.done(), f"answered before converting: {response.result()}"
    assert await started, "the conversion never started"
    assert held.converting_thread != loop_thread, "converted on the event loop"
    # At a lower priority than the loop's, so the loop keeps most of a shared core.
    assert held.converting_nice == os.getpriority(os.PRIO_PROCESS, 0) + attachments.CONVERT_NICE
    database_thread = await database_sync_to_async(threading.get_ident)()
    assert await Attachment.objects.acount() == 0  # still converting: no row yet
    assert held.converting_thread != database_thread, "converted on the database thread"
    held.release.set()

    answer = await response
    assert answer["status"] == 201, answer["body"]
    assert await Attachment.objects.filter(user=alice, kind="image").acount() == 1
    # The request's own database work (its row) ran in a thread the conversion did not.
    assert held.saving_thread is not None
    assert held.converting_thread != held.saving_thread, (
        "converted on the request's database thread"
    )
