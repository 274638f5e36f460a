"""Files over /api/v1 (#21): upload with a token, post a message naming them, read them
back through the API (owner only), the message listings show them, refusals keep nothing."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image

from conversations.models import Attachment, Message
from streaming.registry import registry
from tests.api.conftest import Api, token_for
from tests.conversations.test_attachments import png, stored_files
from tests.upstream import FakeUpstream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def upload(api: Api, name: str, data: bytes) -> Any:
    handle = io.BytesIO(data)
    handle.name = name
    return await api.client.post("/api/v1/attachments", {"file": handle}, headers=api.headers())


async def ended(answer_id: int) -> None:
    running = registry.running.get(answer_id)
    if running is not None:
        await asyncio.wait_for(running[1], 10)


async def test_a_file_uploaded_with_a_token_goes_with_a_posted_message(
    live: None, alice_api: Api, conversation: Any, upstream: FakeUpstream, settings: Any
) -> None:
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})
    image = await upload(alice_api, "shot.png", png(120, 80))
    assert image.status_code == 201, image.content
    body = image.json()
    attachment = body["attachment"]
    assert (attachment["kind"], attachment["width"], attachment["height"]) == ("image", 120, 80)
    assert body["file_url"] == f"/api/v1/attachments/{attachment['id']}/file"
    assert body["thumbnail_url"]
    assert body["text_url"] is None
    document = (await upload(alice_api, "notes.md", b"# Owls\n\nThey hoot.")).json()

    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages",
        {"text": "", "attachments": [document["attachment"]["id"], attachment["id"]]},
    )
    assert posted.status_code == 202, posted.content
    await ended(posted.json()["message_id"])
    listed = await alice_api.get(f"/conversations/{conversation.pk}/messages")
    question = listed.json()["data"][0]
    assert question["role"] == "user"
    assert [a["id"] for a in question["attachments"]] == [
        document["attachment"]["id"],
        attachment["id"],
    ]
    assert question["attachments"][1]["content_type"] == "image/png"
    assert listed.json()["data"][1]["attachments"] == []
    # Switching to the question answers with its files (read off the event loop).
    switched = await alice_api.post(
        f"/conversations/{conversation.pk}/switch", {"message_id": question["id"]}
    )
    assert switched.status_code == 200, switched.content
    assert len(switched.json()["message"]["attachments"]) == 2
    # A question's events: its `done` at once, with its files.
    events = await alice_api.client.get(
        f"/api/v1/messages/{question['id']}/events", headers=alice_api.headers()
    )
    assert events.status_code == 200
    chunks = events.streaming_content  # type: ignore[attr-defined]
    stream = b"".join([chunk async for chunk in chunks]).decode()
    assert "event: done" in stream
    assert '"name": "notes.md"' in stream or '"name":"notes.md"' in stream

    served = await alice_api.client.get(body["file_url"], headers=alice_api.headers())
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(served.content)).size == (120, 80)
    text = await alice_api.client.get(document["text_url"], headers=alice_api.headers())
    assert text.content == b"# Owls\n\nThey hoot."
    assert text["Content-Type"] == "text/plain; charset=utf-8"
    raw = await alice_api.client.get(document["file_url"], headers=alice_api.headers())
    assert raw["Content-Disposition"].startswith("attachment")


async def test_another_users_file_is_not_found_through_the_api(
    alice_api: Api, bob_api: Api, conversation: Any
) -> None:
    body = (await upload(alice_api, "shot.png", png())).json()
    pk = body["attachment"]["id"]
    for path in (f"/attachments/{pk}", f"/attachments/{pk}/file", f"/attachments/{pk}/thumbnail"):
        refused = await bob_api.get(path)
        assert refused.status_code == 404, path
        assert refused.json()["error"]["code"] == "attachment_not_found"
    assert (await bob_api.send("delete", f"/attachments/{pk}")).status_code == 404
    # Nor can bob's post take it.
    bobs = await bob_api.post("/conversations", {})
    taken = await bob_api.post(
        f"/conversations/{bobs.json()['id']}/messages", {"text": "hi", "attachments": [pk]}
    )
    assert taken.status_code == 404
    assert taken.json()["error"]["code"] == "attachment_not_found"
    assert await Attachment.objects.filter(message__isnull=False).acount() == 0


async def test_a_refused_upload_keeps_nothing_and_says_why(alice_api: Api) -> None:
    refused = await upload(
        alice_api, "x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'
    )
    assert refused.status_code == 415
    error = refused.json()["error"]
    assert (error["code"], error["type"]) == ("attachment_unsupported", "invalid_request_error")
    assert await Attachment.objects.acount() == 0
    assert stored_files() == []


async def test_uploading_needs_the_chat_scope_and_reading_the_read_scope(alice: Any) -> None:
    reader = await token_for(alice, ["conversations:read"])
    refused = await upload(reader, "a.txt", b"hello")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    chat_only = await token_for(alice, ["chat"])
    uploaded = (await upload(chat_only, "a.txt", b"hello")).json()
    assert (await chat_only.get(f"/attachments/{uploaded['attachment']['id']}")).status_code == 403
    assert (await reader.get(f"/attachments/{uploaded['attachment']['id']}")).status_code == 200


async def test_a_pending_file_is_removed_and_a_sent_one_stays(
    live: None, alice_api: Api, conversation: Any, upstream: FakeUpstream
) -> None:
    pending = (await upload(alice_api, "a.txt", b"hello")).json()["attachment"]["id"]
    removed = await alice_api.send("delete", f"/attachments/{pending}")
    assert removed.status_code == 204
    assert stored_files() == []
    sent = (await upload(alice_api, "b.txt", b"hello")).json()["attachment"]["id"]
    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "read", "attachments": [sent]}
    )
    await ended(posted.json()["message_id"])
    assert (await alice_api.send("delete", f"/attachments/{sent}")).status_code == 404
    assert await Message.objects.filter(attachment_count=1).acount() == 1
