"""An import is bounded by the work it asks for, not only by its bytes (docs/security.md,
"Imports"): too many messages or characters are refused before anything is written, and an
import at the limits is written in short transactions, hidden until its last row is in."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from conversations import transfer
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

# What one of the import's transactions may write (transfer.BATCH; docs/security.md,
# "Imports bounded by work", says why 50).
ROWS_PER_TRANSACTION = 50


def _history(chats: list[int], text: str = "x") -> bytes:
    """A chatgpt-web history file: one chat per count, alternating question and answer."""
    return json.dumps(
        {
            "data": {
                "history": [{"uuid": c, "title": f"Chat {c}"} for c in range(len(chats))],
                "chat": [
                    {
                        "uuid": c,
                        "data": [
                            {"text": text, "inversion": i % 2 == 0, "dateTime": "x"}
                            for i in range(count)
                        ],
                    }
                    for c, count in enumerate(chats)
                ],
            }
        }
    ).encode()


def _refused(user: Any, raw: bytes) -> str:
    with pytest.raises(transfer.ImportRefused) as info:
        transfer.import_file(user=user, raw=raw)
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()
    return info.value.message


def test_the_100_000_message_file_of_the_report_is_refused_and_writes_nothing(alice):
    # Issue #17: 1.5 MB, 100,000 one-character messages, accepted, 60-80 s of writing.
    raw = _history([100_000])
    assert len(raw) < 20 * 1024 * 1024

    message = _refused(alice, raw)

    assert "100,000 messages" in message
    assert "IMPORT_MAX_MESSAGES" in message


def test_the_count_is_refused_before_any_message_is_read(alice, settings):
    settings.IMPORT_MAX_MESSAGES = 10
    document = json.loads(_history([11]))
    document["data"]["chat"][0]["data"][-1] = "not an object"

    # The count, not the bad last message: no message was read one by one.
    assert "IMPORT_MAX_MESSAGES" in _refused(alice, json.dumps(document).encode())


def test_a_chatweb_export_over_the_count_is_refused(alice, settings):
    settings.IMPORT_MAX_MESSAGES = 2
    document = {
        "format": "chatweb-export",
        "version": 1,
        "conversations": [
            {"title": "t", "messages": [{"id": i, "role": "user"} for i in range(3)]}
        ],
    }

    assert "IMPORT_MAX_MESSAGES" in _refused(alice, json.dumps(document).encode())


def test_a_file_over_the_character_limit_is_refused(alice, settings):
    settings.IMPORT_MAX_CHARS = 1000

    message = _refused(alice, _history([11], text="y" * 100))

    assert "1,100 characters" in message
    assert "IMPORT_MAX_CHARS" in message


class Statements:
    """Every statement the import runs, grouped by the transaction (atomic block) it ran in.

    Under the test's own transaction each of the import's transactions is a savepoint.
    """

    def __init__(self) -> None:
        self.blocks: list[list[tuple[str, int]]] = []
        self.outside: list[str] = []
        self.open: list[tuple[str, int]] | None = None
        self.on_insert: Callable[[int], None] | None = None
        self.inserted = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("SAVEPOINT"):
            self.open = []
            self.blocks.append(self.open)
        elif sql.startswith("RELEASE SAVEPOINT") or sql.startswith("ROLLBACK TO SAVEPOINT"):
            self.open = None
        rows = _rows(sql, params)
        if self.open is None:
            self.outside.append(sql)
        elif not sql.startswith(("SAVEPOINT", "RELEASE")):
            self.open.append((sql, rows))
        if sql.startswith('INSERT INTO "conversations_message"'):
            self.inserted += rows
            if self.on_insert is not None:
                self.on_insert(self.inserted)
        return execute(sql, params, many, context)


def _rows(sql: str, params: Any) -> int:
    """The rows one INSERT writes: a VALUES list (SQLite), or arrays to UNNEST (PostgreSQL)."""
    if params and isinstance(params[0], list | tuple):
        return len(params[0])
    return sql.count("), (") + 1


def _message_rows(block: list[tuple[str, int]]) -> int:
    return sum(rows for sql, rows in block if sql.startswith('INSERT INTO "conversations_message"'))


def test_an_import_at_the_limit_is_written_in_short_transactions(alice, settings):
    settings.IMPORT_MAX_MESSAGES = 7 * ROWS_PER_TRANSACTION
    # Three conversations whose messages straddle the batches.
    chats = [3 * ROWS_PER_TRANSACTION + 7, 3 * ROWS_PER_TRANSACTION - 20, ROWS_PER_TRANSACTION + 13]
    statements = Statements()

    with connection.execute_wrapper(statements):
        created = transfer.import_file(user=alice, raw=_history(chats))

    writes = [b for b in statements.blocks if _message_rows(b)]
    # One transaction per batch, none holding more than a batch; nothing written outside one.
    assert len(writes) == math.ceil(7 * ROWS_PER_TRANSACTION / ROWS_PER_TRANSACTION)
    assert max(_message_rows(b) for b in writes) == ROWS_PER_TRANSACTION
    # Outside them only the audit log's one entry for the import, once it is all in.
    outside = [s for s in statements.outside if s.startswith(("INSERT", "UPDATE"))]
    assert [s.split("(")[0] for s in outside] == ['INSERT INTO "audit_auditevent" ']
    # Each transaction is the batch's rows and the parents that point inside it.
    assert all(len(b) <= 3 for b in writes), [len(b) for b in writes]
    # And the chains came out whole, every conversation shown with its last message.
    assert [c.messages.count() for c in created] == chats
    for conversation, count in zip(created, chats, strict=True):
        conversation.refresh_from_db()
        path = conversation.active_path()
        assert len(path) == count
        assert path[0].parent_id is None
        assert not conversation.importing
    assert Conversation.objects.for_user(alice).count() == 3


def test_nothing_is_shown_before_the_last_batch_is_in(alice, settings):
    seen: list[tuple[int, int, int]] = []
    statements = Statements()

    def look(inserted: int) -> None:
        statements.on_insert = None  # the look's own statements are not the import's
        shown = Conversation.objects.for_user(alice).count()
        messages = Message.objects.filter(conversation__in=Conversation.objects.for_user(alice))
        seen.append((inserted, shown, messages.count()))
        statements.on_insert = look

    statements.on_insert = look
    with connection.execute_wrapper(statements):
        transfer.import_file(user=alice, raw=_history([3 * ROWS_PER_TRANSACTION]))

    assert len(seen) >= 3
    assert {(shown, messages) for _, shown, messages in seen} == {(0, 0)}
    assert Conversation.objects.for_user(alice).count() == 1


def test_a_branched_export_larger_than_a_batch_round_trips(alice):
    # Parents anywhere before: in the same batch, the one before, or the first.
    count = 3 * ROWS_PER_TRANSACTION + 5
    document = {
        "format": "chatweb-export",
        "version": 1,
        "conversations": [
            {
                "title": "Tree",
                "current_leaf": count - 1,
                "messages": [
                    {
                        "id": i,
                        "parent": None if i == 0 else (i - 1 if i % 3 else i // 2),
                        "role": "user" if i % 2 == 0 else "assistant",
                        "content": f"m{i}",
                    }
                    for i in range(count)
                ],
            }
        ],
    }

    (conversation,) = transfer.import_file(user=alice, raw=json.dumps(document).encode())

    by_id = {m.pk: m for m in conversation.messages.all()}
    content_of_parent = {
        m.content: by_id[m.parent_id].content if m.parent_id else None for m in by_id.values()
    }
    assert content_of_parent == {
        f"m{i}": None if i == 0 else f"m{i - 1 if i % 3 else i // 2}" for i in range(count)
    }
    assert conversation.current_leaf_id is not None
    assert by_id[conversation.current_leaf_id].content == f"m{count - 1}"


def test_an_import_that_fails_midway_leaves_nothing(alice):
    statements = Statements()

    def fail(inserted: int) -> None:
        if inserted > 2 * ROWS_PER_TRANSACTION:
            raise RuntimeError("the disk is full")

    statements.on_insert = fail
    with connection.execute_wrapper(statements), pytest.raises(RuntimeError):
        transfer.import_file(user=alice, raw=_history([4 * ROWS_PER_TRANSACTION]))

    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_what_a_killed_import_left_hidden_goes_with_the_next_import(alice, bob):
    now = timezone.now()
    left = Conversation.objects.create(
        user=alice, importing=True, created_at=now - dt.timedelta(hours=2)
    )
    Message.objects.create(conversation=left, role="user", content="half")
    running = Conversation.objects.create(user=alice, importing=True, created_at=now)
    bobs = Conversation.objects.create(
        user=bob, importing=True, created_at=now - dt.timedelta(hours=2)
    )

    transfer.import_file(user=alice, raw=_history([2]))

    assert not Conversation.objects.filter(pk=left.pk).exists()
    # Another import of hers may still be writing; bob's leftovers are his next import's.
    assert Conversation.objects.filter(pk__in=[running.pk, bobs.pk]).count() == 2
    assert Conversation.objects.for_user(alice).count() == 1
