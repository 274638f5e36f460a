"""A message's attachments on the pages (#21): one template (_attachment.html) for the
thread, its partial, the share page and the copies the chat page's script clones; the
model picker marks the models that read images."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.config import ModelChoice
from conversations import actions, sharing
from conversations.models import Message
from tests.conversations.test_attachments import png, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def question(alice: Any, alice_client: Client, settings: Any) -> Message:
    """Alice's question with a screenshot and a text file, in that order, and its answer."""
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})
    image = send(alice_client, "shot.png", png(300, 200)).json()["attachment"]["id"]
    document = send(alice_client, "notes.txt", b"Owls hoot at night.\n").json()["attachment"]["id"]
    answer = actions.start_conversation(
        user=alice, text="What are these?", attachments=[image, document]
    )
    assert answer.parent is not None
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.DONE, content="Owls.")
    return answer.parent


def attachment_items(html: str) -> list[tuple[str, str]]:
    """(kind, id) of each attachment shown, in order."""
    return re.findall(r'<li class="att att-\w+" data-attachment-id="(\d*)" data-kind="(\w+)"', html)


def test_the_thread_shows_a_questions_files_in_order(
    alice_client: Client, question: Message
) -> None:
    image, document = question.attachment_list()
    html = alice_client.get(f"/c/{question.conversation_id}/").content.decode()
    shown = [item for item in attachment_items(html) if item[0]]
    assert shown == [(str(image.pk), "image"), (str(document.pk), "document")]
    assert f'href="/attachments/{image.pk}/" data-att-open' in html
    assert (
        f'src="/attachments/{image.pk}/thumbnail/" alt="shot.png" width="300" height="200"' in html
    )
    assert f'data-att-text="/attachments/{document.pk}/text/"' in html
    assert f'href="/attachments/{document.pk}/" download' in html
    # The partial the page reloads the thread from shows the same.
    partial = alice_client.get(f"/c/{question.conversation_id}/thread/").content.decode()
    assert attachment_items(partial) == shown


def test_the_page_holds_empty_copies_for_live_messages(
    alice_client: Client, question: Message
) -> None:
    html = alice_client.get(f"/c/{question.conversation_id}/").content.decode()
    for kind in ("image", "document"):
        template = re.search(
            rf'<template id="att-template-{kind}">(.*?)</template>', html, re.DOTALL
        )
        assert template is not None
        assert attachment_items(template.group(1)) == [("", kind)]
    # The live user message's copy has the empty, hidden list attachment-view.js fills.
    user = re.search(r'<template id="message-template-user">(.*?)</template>', html, re.DOTALL)
    assert user is not None
    assert '<ul class="atts" data-attachments aria-label="Attachments" hidden></ul>' in user.group(
        1
    )


def test_a_message_without_files_has_no_list(alice_client: Client, alice: Any) -> None:
    answer = actions.start_conversation(user=alice, text="Just text")
    html = alice_client.get(f"/c/{answer.conversation_id}/thread/").content.decode()
    assert "data-attachments" not in html


def test_the_share_page_shows_the_files(question: Message) -> None:
    link = sharing.share_conversation(conversation=question.conversation)
    html = Client().get(f"/s/{link.token}/").content.decode()
    image, document = question.attachment_list()
    # Through the link's own URLs (its readers are not the owner), in order.
    shown = re.findall(rf"/s/{link.token}/attachments/(\d+)/", html)
    assert list(dict.fromkeys(shown)) == [str(image.pk), str(document.pk)]
    assert f"/s/{link.token}/attachments/{image.pk}/thumbnail/" in html


def test_the_picker_marks_the_models_that_read_images() -> None:
    choices = [
        ModelChoice("vision", "Vision", "p", 8000, accepts_images=True),
        ModelChoice("plain", "Plain", "p", 8000),
    ]
    html = render_to_string(
        "conversations/_model_options.html", {"models": choices, "current_model": "plain"}
    )
    assert '<option value="vision" data-accepts-images>' in html
    assert '<option value="plain" selected>' in html


def test_the_threads_files_are_read_in_one_query(alice_client: Client, question: Message) -> None:
    """Another question with a file adds no query: the shown messages' files are read together."""

    def thread_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = alice_client.get(f"/c/{question.conversation_id}/thread/")
        assert response.status_code == 200
        return len(captured.captured_queries)

    one = thread_queries()
    file = send(alice_client, "more.txt", b"More.\n").json()["attachment"]["id"]
    answer = actions.post_user_message(
        conversation=question.conversation, text="And this?", attachments=[file]
    )
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.DONE, content="Yes.")
    assert thread_queries() == one
