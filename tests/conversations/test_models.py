"""Conversation and Message: the message tree, the protocol shape, ownership filters."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings

from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

PROTOCOL = Path(settings.BASE_DIR) / "docs" / "protocol.md"


def _documented_message() -> dict[str, object]:
    """The Message example in docs/protocol.md, parsed."""
    section = PROTOCOL.read_text().split("### Message", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block is not None, "docs/protocol.md has no Message example"
    example: dict[str, object] = json.loads(block.group(1))
    return example


@pytest.fixture
def tree(conversation, add_message):
    """user1 -> answer1 -> user2 -> {answer2a (regenerated away), answer2b (current)}."""
    user1 = add_message(conversation, "user", "first question")
    answer1 = add_message(conversation, "assistant", "first answer", parent=user1)
    user2 = add_message(conversation, "user", "second question", parent=answer1)
    answer2a = add_message(conversation, "assistant", "old answer", parent=user2)
    answer2b = add_message(conversation, "assistant", "new answer", parent=user2)
    return user1, answer1, user2, answer2a, answer2b


def test_active_path_follows_parent_links_from_the_current_leaf(conversation, tree):
    user1, answer1, user2, answer2a, answer2b = tree

    assert conversation.active_path() == [user1, answer1, user2, answer2b]
    assert answer2a not in conversation.active_path()


def test_active_path_follows_the_leaf_when_it_moves_to_another_branch(conversation, tree):
    user1, answer1, user2, answer2a, _ = tree
    conversation.current_leaf = answer2a
    conversation.save()

    assert conversation.active_path() == [user1, answer1, user2, answer2a]


def test_active_path_is_empty_without_a_leaf(conversation):
    assert conversation.active_path() == []


def test_active_path_costs_one_query_however_long(conversation, tree, django_assert_num_queries):
    conversation.refresh_from_db()

    with django_assert_num_queries(1):
        conversation.active_path()


def test_active_path_ignores_messages_of_other_conversations(alice, conversation, add_message):
    other = Conversation.objects.create(user=alice, title="Other")
    foreign = add_message(other, "user", "elsewhere")
    mine = add_message(conversation, "user", "here")

    assert conversation.active_path() == [mine]
    assert other.active_path() == [foreign]


def test_as_event_has_exactly_the_documented_message_keys(conversation, add_message):
    message = add_message(conversation, "assistant", "hello", html="<p>hello</p>")

    assert set(message.as_event()) == set(_documented_message())


def test_as_event_round_trips_through_json_with_the_documented_types(conversation, add_message):
    user = add_message(conversation, "user", "question")
    answer = add_message(
        conversation,
        "assistant",
        "text so far",
        parent=user,
        status=Message.Status.STREAMING,
        model="fake-model",
        prompt_tokens=12,
        completion_tokens=30,
        total_tokens=42,
    )

    event = json.loads(json.dumps(answer.as_event(seq=17)))

    assert event == {
        "id": answer.pk,
        "parent_id": user.pk,
        "role": "assistant",
        "status": "streaming",
        "content": "text so far",
        "html": "",
        "reasoning": "",
        "reasoning_seconds": None,
        "model": "fake-model",
        "finish_reason": None,
        "error_code": "",
        "error": "",
        "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
        "retry_after": None,
        "context_from_id": None,
        "context_cut": [],
        "rating": None,
        "attachments": [],
        "seq": 17,
        "created_at": answer.created_at.isoformat(),
    }


def test_as_event_seq_is_null_unless_given(conversation, add_message):
    message = add_message(conversation, "user", "hi")

    assert message.as_event()["seq"] is None
    assert message.as_event()["parent_id"] is None


def test_usage_is_none_when_no_tokens_were_reported(conversation, add_message):
    message = add_message(conversation, "assistant", "hi")

    assert message.usage() is None
    assert message.as_event()["usage"] is None


def test_usage_fills_missing_parts_with_zero(conversation, add_message):
    message = add_message(conversation, "assistant", "hi", total_tokens=7)

    assert message.usage() == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 7}


@pytest.mark.parametrize(
    ("status", "live"),
    [
        (Message.Status.PENDING, True),
        (Message.Status.STREAMING, True),
        (Message.Status.DONE, False),
        (Message.Status.STOPPED, False),
        (Message.Status.ERROR, False),
        (Message.Status.INTERRUPTED, False),
    ],
)
def test_is_live_only_while_pending_or_streaming(conversation, add_message, status, live):
    assert add_message(conversation, "assistant", status=status).is_live is live


def test_for_user_excludes_other_users_conversations(alice, bob, conversation):
    bobs = Conversation.objects.create(user=bob, title="Bob's")

    assert list(Conversation.objects.for_user(bob)) == [bobs]
    assert list(Conversation.objects.for_user(alice)) == [conversation]


def test_for_user_is_empty_for_anonymous_users(conversation):
    from django.contrib.auth.models import AnonymousUser

    assert not Conversation.objects.for_user(AnonymousUser()).exists()


def test_conversations_are_ordered_newest_first(alice):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    old = Conversation.objects.create(user=alice, title="old", updated_at=now - timedelta(hours=2))
    new = Conversation.objects.create(user=alice, title="new", updated_at=now)
    middle = Conversation.objects.create(
        user=alice, title="middle", updated_at=now - timedelta(hours=1)
    )

    assert list(Conversation.objects.for_user(alice)) == [new, middle, old]
