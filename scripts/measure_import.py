"""Measure an import at the limits, and what it costs everyone else meanwhile.

    DATABASE_URL=sqlite:////tmp/m/db.sqlite3 DATA_DIR=/tmp/m SECRET_KEY=x \
        python scripts/measure_import.py [--messages N] [--chars-per-message C]

On a scratch database (it migrates it and adds two users): builds a chatgpt-web history
file of N messages of C characters each, every other one an answer in markdown dense with
a code block and a table (what renders slowest; --answers-only: every one), imports it as one user
while another thread of the same process (as daphne's thread pool runs views) writes
what an answer's checkpoint writes, a one-row UPDATE in its own transaction, every 20 ms
as the other user. Prints the import's duration, its transactions, and the slowest and
median small write during the import and before it. The figures in docs/security.md
("Imports") come from here. Never point it at a database you care about.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatweb.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from conversations import transfer  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402

ANSWER = (
    "Here is how to do it:\n\n1. **Read** the file with `open()`.\n2. *Group* the lines "
    "by key.\n\n```python\nfor line in lines:\n    groups[key(line)].append(line)\n```\n\n"
    "| step | cost |\n|---|---|\n| read | O(n) |\n"
)


def history_file(messages: int, chars: int, *, answers_only: bool = False) -> bytes:
    answer = (ANSWER * (chars // len(ANSWER) + 1))[:chars]
    question = ("How do I group lines by key? " * (chars // 29 + 1))[:chars]
    per_chat = 100
    chats = [
        {
            "uuid": c,
            "data": [
                {
                    "text": question if i % 2 == 0 and not answers_only else answer,
                    "inversion": i % 2 == 0 and not answers_only,
                    "dateTime": "2026/11/21 14:44:34",
                }
                for i in range(min(per_chat, messages - c * per_chat))
            ],
        }
        for c in range((messages + per_chat - 1) // per_chat)
    ]
    history = [{"uuid": c["uuid"], "title": f"Chat {c['uuid']}"} for c in chats]
    return json.dumps({"data": {"history": history, "chat": chats}}).encode()


def small_writes(message_id: int, stop: threading.Event, out: list[float]) -> None:
    """A checkpoint's write, every 20 ms, timed from before BEGIN to after COMMIT."""
    while not stop.is_set():
        began = time.perf_counter()
        with transaction.atomic():
            Message.objects.filter(pk=message_id).update(content=f"text {began}")
        out.append(time.perf_counter() - began)
        time.sleep(0.02)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--chars-per-message", type=int, default=250)
    parser.add_argument(
        "--answers-only", action="store_true", help="every message an answer (all rendered)"
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    users = get_user_model().objects
    importer = users.create_user(f"importer-{time.time_ns()}", password=None)
    other = users.create_user(f"other-{time.time_ns()}", password=None)
    conversation = Conversation.objects.create(user=other, title="Busy")
    answer = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING
    )
    raw = history_file(args.messages, args.chars_per_message, answers_only=args.answers_only)

    quiet: list[float] = []
    stop = threading.Event()
    writer = threading.Thread(target=small_writes, args=(answer.pk, stop, quiet))
    writer.start()
    time.sleep(2)
    stop.set()
    writer.join()

    busy: list[float] = []
    stop = threading.Event()
    writer = threading.Thread(target=small_writes, args=(answer.pk, stop, busy))
    writer.start()
    began = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        created = transfer.import_file(user=importer, raw=raw)
    took = time.perf_counter() - began
    stop.set()
    writer.join()

    inserts = sum(
        1
        for q in queries.captured_queries
        if q["sql"].startswith('INSERT INTO "conversations_message"')
    )

    def ms(values: list[float]) -> str:
        return (
            f"median {statistics.median(values) * 1000:.1f} ms, "
            f"p99 {sorted(values)[int(len(values) * 0.99)] * 1000:.1f} ms, "
            f"max {max(values) * 1000:.1f} ms, over 100 ms: "
            f"{sum(1 for v in values if v > 0.1)} of {len(values)} writes"
        )

    print(
        json.dumps(
            {
                "database": connection.vendor,
                "file_bytes": len(raw),
                "messages": args.messages,
                "characters": args.messages * args.chars_per_message,
                "answers_only": args.answers_only,
                "conversations": len(created),
                "import_seconds": round(took, 2),
                "statements": len(queries.captured_queries),
                "message_inserts": inserts,
                "small_write_before": ms(quiet),
                "small_write_during": ms(busy),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
