"""Attachments' seam (#21): an upload checked and stored, a post's files linked, a file
served to its owner only, and deleted with its message."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.storage import storages
from django.test import Client
from PIL import Image

from conversations import actions
from conversations.models import Attachment, Conversation, Message


def png(width: int = 64, height: int = 48, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def send(client: Client, name: str, data: bytes) -> Any:
    handle = io.BytesIO(data)
    handle.name = name
    return client.post("/attachments/", {"file": handle})


def stored_files() -> list[str]:
    storage = storages["attachments"]
    folders, _files = storage.listdir("")
    return sorted(f"{folder}/{name}" for folder in folders for name in storage.listdir(folder)[1])


@pytest.mark.django_db(transaction=True)
def test_an_image_is_stored_re_encoded_with_a_thumbnail(alice_client: Client) -> None:
    response = send(alice_client, "shot.png", png(3000, 1500))
    assert response.status_code == 201, response.content
    body = response.json()["attachment"]
    assert body["kind"] == "image"
    assert (body["width"], body["height"]) == (2048, 1024)
    attachment = Attachment.objects.get(pk=body["id"])
    assert attachment.message_id is None
    assert len(stored_files()) == 2  # the image and its thumbnail
    full = alice_client.get(body["url"])
    assert full["Content-Type"] == "image/png"
    assert full["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(full.content)).size == (2048, 1024)
    thumb = alice_client.get(body["thumbnail_url"])
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 256


@pytest.mark.django_db(transaction=True)
def test_a_text_file_is_a_document_served_as_a_download(alice_client: Client) -> None:
    response = send(alice_client, "notes.md", b"# Owls\n\nThey hoot.")
    assert response.status_code == 201, response.content
    body = response.json()["attachment"]
    assert body["kind"] == "document"
    assert body["text_tokens"] > 0
    served = alice_client.get(body["url"])
    assert served["Content-Disposition"].startswith("attachment")
    assert served["Content-Type"].startswith("text/plain")
    assert alice_client.get(body["text_url"]).content.decode() == "# Owls\n\nThey hoot."


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("empty.txt", b"", "attachment_empty"),
        ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
         "attachment_unsupported"),
        ("bin.png", b"\x89PNG\r\n\x1a\nnot really", "attachment_unreadable"),
        ("a.exe", b"MZ\x90\x00\x03\x00\x00\x00", "attachment_unsupported"),
    ],
)  # fmt: skip
def test_a_refused_file_writes_nothing(
    alice_client: Client, name: str, data: bytes, code: str
) -> None:
    response = send(alice_client, name, data)
    assert response.status_code >= 400
    assert response.json()["code"] == code
    assert not Attachment.objects.exists()
    assert stored_files() == []


@pytest.mark.django_db(transaction=True)
def test_another_users_file_is_not_found(alice_client: Client, bob: Any) -> None:
    body = send(alice_client, "shot.png", png()).json()["attachment"]
    other = Client()
    other.force_login(bob)
    assert other.get(body["url"]).status_code == 404
    assert other.get(body["thumbnail_url"]).status_code == 404
    assert other.post(f"/attachments/{body['id']}/remove/").status_code == 404
    assert Client().get(body["url"]).status_code == 302  # to the sign-in page


@pytest.mark.django_db(transaction=True)
def test_a_post_takes_its_files_and_deleting_the_conversation_deletes_them(
    alice: Any, alice_client: Client, upstream: Any, settings: Any
) -> None:
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})  # it reads the image
    first = send(alice_client, "a.png", png()).json()["attachment"]["id"]
    second = send(alice_client, "b.txt", b"hello").json()["attachment"]["id"]
    answer = actions.start_conversation(user=alice, text="", attachments=[second, first])
    question = answer.parent
    assert question is not None
    assert question.attachment_count == 2
    assert [a.pk for a in question.attachments.all()] == [second, first]
    event = Message.objects.get(pk=question.pk).as_event()
    assert [a["id"] for a in event["attachments"]] == [second, first]
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.DONE)
    # Sent once: a second post naming them is refused and writes nothing.
    with pytest.raises(actions.ActionError) as refused:
        actions.post_user_message(
            conversation=answer.conversation, text="again", attachments=[first]
        )
    assert refused.value.code == "attachment_not_found"
    assert Message.objects.count() == 2
    assert len(stored_files()) == 3
    Conversation.objects.filter(pk=answer.conversation_id).delete()
    assert not Attachment.objects.exists()
    assert stored_files() == []


@pytest.mark.django_db(transaction=True)
def test_a_post_cannot_take_another_users_file(alice: Any, bob: Any, alice_client: Client) -> None:
    theirs = send(alice_client, "a.png", png()).json()["attachment"]["id"]
    with pytest.raises(actions.ActionError) as refused:
        actions.start_conversation(user=bob, text="hi", attachments=[theirs])
    assert refused.value.code == "attachment_not_found"
    assert not Conversation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_admin_lists_files_and_deleting_one_deletes_its_bytes(
    alice_client: Client, admin_client: Client
) -> None:
    body = send(alice_client, "whiteboard.png", png()).json()["attachment"]
    listing = admin_client.get("/admin/conversations/attachment/")
    assert "whiteboard.png" in listing.content.decode()
    page = admin_client.get(f"/admin/conversations/attachment/{body['id']}/change/")
    assert page.status_code == 200
    deleted = admin_client.post(
        f"/admin/conversations/attachment/{body['id']}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 302
    assert not Attachment.objects.exists()
    assert stored_files() == []
