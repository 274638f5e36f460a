"""Fixtures for the conversations tests: a small message-tree builder.

(The fast password hasher and the empty caches are suite-wide: tests/conftest.py.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from conversations.models import Conversation, Message

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
