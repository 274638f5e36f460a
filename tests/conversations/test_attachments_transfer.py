"""Export and import carry attachments (#21): the JSON export has each file's details and
bytes, the Markdown export links them, and an import brings them back byte for byte,
checked as uploads are (a hostile or damaged file refuses the import, which writes
nothing)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from catalog.models import Quota
from conversations import actions, attachments, exporting, transfer
from conversations.models import Attachment, Conversation, Message
from conversations.transfer_views import ChunkedDownload
from tests.conversations.test_attachments import png
from tests.conversations.test_attachments_lifecycle import all_stored, finished, upload

pytestmark = pytest.mark.django_db

NOTES = b"# Herons\n\nThey stand still for hours.\n"


@pytest.fixture(autouse=True)
def _model_reads_images(settings: Any) -> None:
    # The test model reads images (catalog: OPENAI_API_IMAGE_MODELS), so posts may carry them.
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})


def chat(alice: Any, client: Client) -> Message:
    """A finished conversation whose question has an image and a document; the question."""
    ids = [upload(client, "shot.png", png(300, 200)), upload(client, "notes.md", NOTES)]
    answer = actions.start_conversation(user=alice, text="look", attachments=ids)
    finished(answer)
    assert answer.parent is not None
    return answer.parent


def exported(client: Client, url: str = "/export/") -> bytes:
    response = client.get(url)
    assert response.status_code == 200
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def import_as(client: Client, raw: bytes) -> Any:
    return client.post("/import/", {"file": SimpleUploadedFile("chatweb.json", raw)})


@pytest.fixture
def bob_client(bob: Any) -> Client:
    client = Client()
    client.force_login(bob)
    return client


def test_the_json_export_carries_each_files_details_and_bytes(
    alice: Any, alice_client: Client
) -> None:
    question = chat(alice, alice_client)
    document = json.loads(exported(alice_client, f"/c/{question.conversation_id}/export.json"))
    [message] = [m for m in document["conversations"][0]["messages"] if m["role"] == "user"]
    image, notes = message["attachments"]
    stored = list(question.attachments.all())
    assert image["name"] == "shot.png"
    assert (image["kind"], image["content_type"]) == ("image", "image/png")
    assert (image["width"], image["height"]) == (300, 200)
    assert base64.b64decode(image["data"]) == attachments.read(stored[0])
    assert image["sha256"] == hashlib.sha256(base64.b64decode(image["data"])).hexdigest()
    assert notes["kind"] == "document"
    assert notes["text"] == NOTES.decode().strip()
    assert base64.b64decode(notes["data"]) == NOTES
    assert notes["size"] == len(NOTES)


def test_an_export_with_files_round_trips_byte_for_byte(
    alice: Any, alice_client: Client, bob: Any, bob_client: Client
) -> None:
    question = chat(alice, alice_client)
    originals = [attachments.read(a) for a in question.attachments.all()]
    response = import_as(bob_client, exported(alice_client))
    assert response.status_code == 302, response.content
    imported = Message.objects.get(conversation__user=bob, role="user")
    assert imported.attachment_count == 2
    files = list(imported.attachments.all())
    assert [a.name for a in files] == ["shot.png", "notes.md"]
    assert [attachments.read(a) for a in files] == originals
    assert files[0].thumbnail.name  # made again
    assert files[1].text == NOTES.decode().strip()
    assert files[1].text_tokens > 0
    assert all(a.user_id == bob.pk for a in files)
    # They are bob's own now: served to him, and a page shows them.
    assert bob_client.get(f"/attachments/{files[0].pk}/").content == originals[0]
    assert alice_client.get(f"/attachments/{files[0].pk}/").status_code == 404
    assert len(all_stored()) == 6  # alice's three files and bob's three


def test_the_markdown_export_links_each_file(alice: Any, alice_client: Client) -> None:
    question = chat(alice, alice_client)
    image, notes = question.attachments.all()
    text = alice_client.get(f"/c/{question.conversation_id}/export.md").content.decode()
    assert f"![shot.png](/attachments/{image.pk}/)" in text
    assert f"- [notes.md](/attachments/{notes.pk}/)" in text


def _edited(raw: bytes, change: Any) -> bytes:
    document = json.loads(raw)
    [message] = [m for m in document["conversations"][0]["messages"] if m["attachments"]]
    change(message["attachments"])
    return json.dumps(document).encode()


def _assert_nothing_written(bob: Any, stored_before: list[str]) -> None:
    assert not Conversation.objects.filter(user=bob).exists()
    assert not Attachment.objects.filter(user=bob).exists()
    assert all_stored() == stored_before


def test_a_file_whose_bytes_do_not_match_its_sha256_refuses_the_import(
    alice: Any, alice_client: Client, bob: Any, bob_client: Client
) -> None:
    chat(alice, alice_client)

    def damage(files: list[dict[str, Any]]) -> None:
        files[1]["data"] = base64.b64encode(b"# Herons\n\nThey fly.").decode()

    before = all_stored()
    response = import_as(bob_client, _edited(exported(alice_client), damage))
    assert response.status_code == 400
    assert "notes.md" in response.content.decode()
    assert "SHA-256" in response.content.decode()
    _assert_nothing_written(bob, before)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "evil"),
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\nnot really", "evil"),
    ],
)
def test_a_hostile_file_refuses_the_import_and_the_files_stored_before_it_go(
    alice: Any, alice_client: Client, bob: Any, bob_client: Client, data: bytes, says: str
) -> None:
    chat(alice, alice_client)

    def poison(files: list[dict[str, Any]]) -> None:
        # The image first (stored, then deleted again), the hostile file second.
        files[1].update(
            name="evil.svg",
            data=base64.b64encode(data).decode(),
            sha256=hashlib.sha256(data).hexdigest(),
        )

    before = all_stored()
    response = import_as(bob_client, _edited(exported(alice_client), poison))
    assert response.status_code == 400
    assert "evil.svg" in response.content.decode()
    _assert_nothing_written(bob, before)


def test_an_import_of_data_that_is_not_base64_is_refused(
    alice: Any, alice_client: Client, bob: Any, bob_client: Client
) -> None:
    chat(alice, alice_client)

    def garble(files: list[dict[str, Any]]) -> None:
        files[0]["data"] = "not base64 at all!"

    before = all_stored()
    response = import_as(bob_client, _edited(exported(alice_client), garble))
    assert response.status_code == 400
    _assert_nothing_written(bob, before)


def test_more_files_on_a_message_than_a_post_may_have_refuses_the_import(
    alice: Any, alice_client: Client, bob: Any, bob_client: Client, settings: Any
) -> None:
    chat(alice, alice_client)
    settings.ATTACHMENT_MAX_PER_MESSAGE = 1
    before = all_stored()
    response = import_as(bob_client, exported(alice_client))
    assert response.status_code == 400
    _assert_nothing_written(bob, before)


def test_an_import_past_the_storage_quota_is_refused_and_writes_nothing(
    alice: Any, alice_client: Client, bob: Any, bob_client: Client
) -> None:
    question = chat(alice, alice_client)
    first = question.attachments.all()[0]
    # Room for the image and its thumbnail, not for the notes after them.
    quota = Quota.objects.create(user=bob, storage_bytes=first.size + first.thumbnail_size + 1)
    before = all_stored()
    response = import_as(bob_client, exported(alice_client))
    assert response.status_code == 400
    assert "notes.md" in response.content.decode()
    _assert_nothing_written(bob, before)
    # Imported files count like uploads: their thumbnails' bytes too.
    quota.storage_bytes = None
    quota.save()
    again = import_as(bob_client, exported(alice_client))
    assert again.status_code == 302, again.content.decode()[-3000:]
    [image, _notes] = Attachment.objects.filter(user=bob)
    assert image.thumbnail_size == first.thumbnail_size > 0


def test_an_export_without_files_imports_as_before(alice: Any, bob: Any) -> None:
    conversation = Conversation.objects.create(user=alice, title="Plain")
    Message.objects.create(conversation=conversation, role="user", content="hi")
    raw = "".join(transfer.json_chunks(transfer.export_user(user=alice))).encode()
    [made] = transfer.import_file(user=bob, raw=raw)
    assert made.messages.get().attachment_count == 0


def test_an_export_reads_each_file_only_when_its_turn_comes(
    alice: Any, alice_client: Client
) -> None:
    question = chat(alice, alice_client)
    # The second file's bytes gone: the document is still made (it reads no bytes), and
    # writing it out fails only when that file's turn comes, after the first one's.
    second = question.attachments.all()[1]
    storages["attachments"].delete(second.file.name)
    document = transfer.export_user(user=alice)
    pieces = exporting.json_pieces(document)
    written: list[str] = []
    with pytest.raises(FileNotFoundError):
        written.extend(pieces)
    first = base64.b64encode(attachments.read(question.attachments.all()[0])).decode()
    assert first in "".join(written)


@pytest.mark.asyncio
async def test_an_asgi_server_gets_the_export_piece_by_piece() -> None:
    # As Django's ASGI handler reads a response: aiter(response). Django's own would read
    # a synchronous iterator whole first, and warn (an error in this suite).
    made: list[str] = []

    def pieces() -> Iterator[str]:
        for piece in ("[1,", "2]"):
            made.append(piece)
            yield piece

    response = ChunkedDownload(pieces())
    received = []
    async for piece in aiter(response):
        received.append(piece)
        assert len(made) == len(received)  # one piece made per piece sent
    assert received == [b"[1,", b"2]"]
