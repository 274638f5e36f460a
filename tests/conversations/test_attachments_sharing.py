"""A share link shows its snapshot's files (#21): images and document chips on the page,
fetched through the link while it lives, and only the snapshot's."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conversations import actions, attachments, sharing
from conversations.models import Attachment, Message
from tests.conversations.test_attachments import png
from tests.conversations.test_attachments_lifecycle import finished, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _model_reads_images(settings: Any) -> None:
    # The test model reads images (catalog: OPENAI_API_IMAGE_MODELS), so posts may carry them.
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})


def shared_chat(alice: Any, client: Client) -> tuple[str, Message]:
    ids = [upload(client, "shot.png", png(300, 200)), upload(client, "notes.md", b"# Notes")]
    answer = actions.start_conversation(user=alice, text="look", attachments=ids)
    conversation = finished(answer)
    link = sharing.share_conversation(conversation=conversation)
    assert answer.parent is not None
    return link.token, answer.parent


def test_the_shared_page_shows_the_images_and_document_chips(
    alice: Any, alice_client: Client
) -> None:
    token, question = shared_chat(alice, alice_client)
    image, notes = question.attachments.all()
    page = Client().get(f"/s/{token}/").content.decode()
    assert f'href="/s/{token}/attachments/{image.pk}/"' in page
    assert f'src="/s/{token}/attachments/{image.pk}/thumbnail/"' in page
    assert 'alt="shot.png"' in page
    assert f'href="/s/{token}/attachments/{notes.pk}/" download>notes.md' in page


def test_a_reader_fetches_the_files_through_the_link_with_safe_headers(
    alice: Any, alice_client: Client
) -> None:
    token, question = shared_chat(alice, alice_client)
    image, notes = question.attachments.all()
    reader = Client()
    full = reader.get(f"/s/{token}/attachments/{image.pk}/")
    assert full.status_code == 200
    assert full.content == attachments.read(image)
    assert full["Content-Type"] == "image/png"
    assert full["X-Content-Type-Options"] == "nosniff"
    assert full["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert full["Referrer-Policy"] == "no-referrer"
    thumb = reader.get(f"/s/{token}/attachments/{image.pk}/thumbnail/")
    assert thumb.content == attachments.read(image, thumbnail=True)
    document = reader.get(f"/s/{token}/attachments/{notes.pk}/")
    assert document["Content-Disposition"].startswith("attachment")
    assert document.content == b"# Notes"
    assert reader.get(f"/s/{token}/attachments/{notes.pk}/thumbnail/").status_code == 404


def test_only_the_snapshots_files_are_served_through_it(alice: Any, alice_client: Client) -> None:
    token, question = shared_chat(alice, alice_client)
    later = actions.post_user_message(
        conversation=question.conversation,
        text="after sharing",
        attachments=[upload(alice_client, "later.png", png())],
    )
    assert later.parent is not None
    after = later.parent.attachments.get()
    other_token, other = shared_chat(alice, alice_client)
    pending = upload(alice_client, "pending.png", png())
    reader = Client()
    assert reader.get(f"/s/{token}/attachments/{after.pk}/").status_code == 404
    assert reader.get(f"/s/{token}/attachments/{pending}/").status_code == 404
    # Another link's file is not this link's, even of the same owner.
    theirs = Attachment.objects.filter(message__conversation=other.conversation).first()
    assert theirs is not None
    assert reader.get(f"/s/{token}/attachments/{theirs.pk}/").status_code == 404
    assert reader.get(f"/s/{other_token}/attachments/{theirs.pk}/").status_code == 200


def test_a_revoked_link_serves_no_file(alice: Any, alice_client: Client) -> None:
    token, question = shared_chat(alice, alice_client)
    image = question.attachments.first()
    assert image is not None
    url = f"/s/{token}/attachments/{image.pk}/"
    assert Client().get(url).status_code == 200
    assert sharing.revoke_share(user=alice, token=token)
    assert Client().get(url).status_code == 404
    assert Client().get(f"/s/{token}/attachments/{image.pk}/thumbnail/").status_code == 404
    assert Client().get(f"/s/{'x' * 65}/attachments/{image.pk}/").status_code == 404


@pytest.mark.parametrize("files", [1, 8])
def test_the_shared_pages_query_count_does_not_grow_with_files(
    alice: Any, alice_client: Client, django_assert_num_queries: Any, files: int
) -> None:
    ids = [upload(alice_client, f"{n}.md", b"text") for n in range(files)]
    answer = actions.start_conversation(user=alice, text="look", attachments=ids)
    link = sharing.share_conversation(conversation=finished(answer))
    reader = Client()
    # The link, its messages, their files (the session is not read: no cookie).
    with django_assert_num_queries(3):
        page = reader.get(f"/s/{link.token}/").content.decode()
    assert page.count('class="shared-chip"') == files
