"""A thread's attachments (#21): the page and the thread partial read the files of every
message shown in one query, and each branch shows its own files."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.test import Client

from conversations import actions
from conversations.models import Attachment, Conversation, Message
from tests.conversations.conftest import AddMessage
from tests.conversations.test_views import CONVERSATION_QUERIES, warm_catalog

pytestmark = pytest.mark.django_db


def attach(message: Message, *names: str) -> None:
    """Give `message` documents named `names` (rows on one stored file)."""
    stored = storages["attachments"].save("u/doc.txt", ContentFile(b"text"))
    Attachment.objects.bulk_create(
        Attachment(
            user_id=message.conversation.user_id,
            message=message,
            kind="document",
            name=name,
            content_type="text/plain",
            size=4,
            file=stored,
            sha256="0" * 64,
            position=position,
        )
        for position, name in enumerate(names)
    )
    message.attachment_count = len(names)
    message.save(update_fields=["attachment_count"])


def chat(alice: Any, add_message: AddMessage, exchanges: int) -> Conversation:
    conversation = Conversation.objects.create(user=alice, title="Files")
    parent = None
    for n in range(exchanges):
        question = add_message(conversation, "user", f"q{n}", parent=parent)
        attach(question, f"a{n}.txt", f"b{n}.txt")
        parent = add_message(conversation, "assistant", f"a{n}", parent=question)
    return conversation


def shown_files(messages: list[Message]) -> list[list[str]]:
    return [[a.name for a in m.attachment_list()] for m in messages]


@pytest.mark.parametrize("exchanges", [1, 20])
def test_the_page_reads_every_shown_messages_files_in_one_query(
    alice: Any,
    alice_client: Client,
    add_message: AddMessage,
    django_assert_num_queries: Any,
    exchanges: int,
) -> None:
    conversation = chat(alice, add_message, exchanges)
    warm_catalog()
    with django_assert_num_queries(CONVERSATION_QUERIES + 1):
        response = alice_client.get(f"/c/{conversation.pk}/")
    assert response.status_code == 200
    messages = response.context["messages"]
    with django_assert_num_queries(0):
        files = shown_files(messages)
        events = [m.as_event()["attachments"] for m in messages]
    assert files[-2:] == [[f"a{exchanges - 1}.txt", f"b{exchanges - 1}.txt"], []]
    assert [e["name"] for e in events[0]] == ["a0.txt", "b0.txt"]


def test_a_page_without_files_reads_no_attachments(
    alice: Any, alice_client: Client, add_message: AddMessage, django_assert_num_queries: Any
) -> None:
    conversation = Conversation.objects.create(user=alice, title="Plain")
    add_message(conversation, "assistant", "hi", parent=add_message(conversation, "user", "hi"))
    warm_catalog()
    with django_assert_num_queries(CONVERSATION_QUERIES):
        alice_client.get(f"/c/{conversation.pk}/")


@pytest.mark.parametrize("exchanges", [1, 20])
def test_the_thread_partial_reads_the_files_in_one_query(
    alice: Any,
    alice_client: Client,
    add_message: AddMessage,
    django_assert_num_queries: Any,
    exchanges: int,
) -> None:
    conversation = chat(alice, add_message, exchanges)
    # The user (session), their settings, the conversation, its messages, their files.
    with django_assert_num_queries(5):
        response = alice_client.get(f"/c/{conversation.pk}/thread/")
    with django_assert_num_queries(0):
        assert shown_files(response.context["messages"])[0] == ["a0.txt", "b0.txt"]


def test_switching_branches_shows_each_branchs_files(
    alice: Any, alice_client: Client, add_message: AddMessage
) -> None:
    conversation = Conversation.objects.create(user=alice, title="Branches")
    first = add_message(conversation, "user", "one")
    attach(first, "first.txt")
    add_message(conversation, "assistant", "a1", parent=first)
    second = add_message(conversation, "user", "two", parent=None)
    attach(second, "second.txt", "more.txt")
    add_message(conversation, "assistant", "a2", parent=second)

    def thread() -> list[list[str]]:
        response = alice_client.get(f"/c/{conversation.pk}/thread/")
        return shown_files(response.context["messages"])

    assert thread() == [["second.txt", "more.txt"], []]
    actions.switch_branch(conversation=conversation, message_id=first.pk)
    assert thread() == [["first.txt"], []]
    frame = Message.objects.get(pk=first.pk).as_event()
    assert [a["name"] for a in frame["attachments"]] == ["first.txt"]
