"""Fixtures for the conversations tests: a clean cache and a small message-tree builder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from conversations.models import Conversation, Message


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Every persona is a new user; the production hasher would make each test slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    # The rate limit counts in the cache under the user's id, and ids are reused once a
    # test's transaction rolls back; a count must never leak into the next test.
    cache.clear()
    yield
    cache.clear()


AddMessage = Callable[..., Message]


@pytest.fixture
def add_message() -> AddMessage:
    """add_message(conversation, role, content, parent=..., **fields) -> a saved Message.

    The conversation's current_leaf moves to the new message unless leaf=False.
    """

    def _add(
        conversation: Conversation,
        role: str,
        content: str = "",
        *,
        parent: Message | None = None,
        leaf: bool = True,
        **fields: Any,
    ) -> Message:
        fields.setdefault("status", Message.Status.DONE)
        if fields["status"] not in Message.LIVE:
            fields.setdefault("finished_at", timezone.now())
        message = Message.objects.create(
            conversation=conversation, role=role, content=content, parent=parent, **fields
        )
        if leaf:
            conversation.current_leaf = message
            conversation.save(update_fields=["current_leaf"])
        return message

    return _add
