"""Search finds the text of attached documents (#21), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest

from conversations import search
from conversations.models import Conversation, Message
from tests.conversations.conftest import AddMessage
from tests.conversations.test_attachments_thread import attach

pytestmark = pytest.mark.django_db


def with_document(user: Any, add_message: AddMessage, name: str, text: str) -> Message:
    conversation = Conversation.objects.create(user=user, title="Reading")
    question = add_message(conversation, "user", "what does it say?")
    attach(question, name)
    question.attachments.update(text=text)
    add_message(conversation, "assistant", "It says things.", parent=question)
    return question


def test_a_search_finds_words_in_an_attached_documents_text(
    alice: Any, add_message: AddMessage
) -> None:
    question = with_document(alice, add_message, "report.pdf", "The heron nests by the river.")
    with_document(alice, add_message, "other.txt", "Nothing about birds here.")
    hits = search.search(user=alice, query="heron")
    assert [(h.conversation_id, h.message_id) for h in hits] == [
        (question.conversation_id, question.pk)
    ]
    assert hits[0].snippet_html.startswith("report.pdf: ")
    assert "<mark>heron</mark>" in hits[0].snippet_html


def test_a_message_matching_by_its_text_and_its_file_is_found_once(
    alice: Any, add_message: AddMessage
) -> None:
    question = with_document(alice, add_message, "a.txt", "heron facts")
    Message.objects.filter(pk=question.pk).update(content="tell me about the heron")
    hits = search.search(user=alice, query="heron")
    assert [h.message_id for h in hits] == [question.pk]
    assert not hits[0].snippet_html.startswith("a.txt")


def test_the_file_name_in_a_snippet_is_escaped(alice: Any, add_message: AddMessage) -> None:
    with_document(alice, add_message, "<b>x</b>.txt", "heron")
    [hit] = search.search(user=alice, query="heron")
    assert hit.snippet_html.startswith("&lt;b&gt;x&lt;/b&gt;.txt: ")


def test_another_users_documents_are_never_searched(
    alice: Any, bob: Any, add_message: AddMessage
) -> None:
    with_document(bob, add_message, "secret.txt", "the heron code")
    assert search.search(user=alice, query="heron") == []


def test_a_temporary_chats_documents_are_not_found(alice: Any, add_message: AddMessage) -> None:
    question = with_document(alice, add_message, "t.txt", "heron")
    Conversation.objects.filter(pk=question.conversation_id).update(
        expires_at="2999-01-01T00:00:00Z"
    )
    assert search.search(user=alice, query="heron") == []
