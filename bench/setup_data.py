"""Create the users, sessions and conversations of one scenario, before the load.

Run with the app's settings (the runner gives it the same environment as daphne):

    python -m bench.setup_data --tag c50 --count 51
    python -m bench.setup_data --pages

Fast on purpose: users get an unusable password (no hashing), sessions are written straight
through Django's session store as a login would write them, and everything is bulk-inserted.
One user with a real password is kept for the check through the real sign-in page. Prints
JSON: {"login": {...}, "chats": [{"session": key, "conversation": id}, ...]} (and each
chat's "token", an API token, with --tokens).

--pages makes what the page timings read (bench/run.py, "Pages") and prints
{"login": {...}, "users": {name: {"session", "newest", "oldest_shown"}}}: a user
with 20 conversations, one with 2,000 (two messages each), and one whose only conversation
holds 500 messages, every answer with the same rendered markdown (a list, a table, code);
and a staff user ("admin", with "start" and "end") for the usage dashboard over a ledger of
LEDGER_ROWS rows (--ledger-rows for fewer), spread over the 30 days before today.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

LOGIN_USER = "bench-login"
LOGIN_PASSWORD = "bench-login-password-1"
# Conversations of the two sidebar users, and messages of the long conversation.
SIDEBAR_USERS = {"few": 20, "many": 2000}
LONG_MESSAGES = 500
# The usage ledger the dashboard's timing reads: rows, days, models and users in it.
LEDGER_ROWS = 1_000_000
LEDGER_DAYS, LEDGER_MODELS, LEDGER_USERS = 30, 20, 500
ANSWER = """Here is how to do it, step by step:

1. **Read** the file with `open()` and keep the lines you need.
2. *Group* them by key; a `dict` of lists is enough.
3. Write the result back, one line per group.

| step | cost |
|---|---|
| read | O(n) |
| group | O(n) |

```python
def group(lines):
    groups = {}
    for line in lines:
        key, _, value = line.partition("=")
        groups.setdefault(key, []).append(value)
    return groups
```

That is all: no library needed, and it works on files of any size that fit in memory.
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.setup_data")
    parser.add_argument("--tag", help="makes this scenario's user names unique")
    parser.add_argument("--count", type=int)
    parser.add_argument("--pages", action="store_true", help="the page timings' data")
    parser.add_argument("--tokens", action="store_true", help="an API token for each chat")
    parser.add_argument("--ledger-rows", type=int, default=LEDGER_ROWS, help="with --pages")
    args = parser.parse_args()
    if not args.pages and (args.tag is None or args.count is None):
        parser.error("--tag and --count, or --pages")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatweb.settings")
    import django

    django.setup()

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    user_model = get_user_model()
    if not user_model.objects.filter(username=LOGIN_USER).exists():
        user_model.objects.create_user(LOGIN_USER, password=LOGIN_PASSWORD)
    output: dict[str, Any] = {"login": {"username": LOGIN_USER, "password": LOGIN_PASSWORD}}
    if args.pages:
        output.update(_pages())
        output["users"]["admin"] = _ledger(args.ledger_rows)
    else:
        output["chats"] = _chats(args.tag, args.count, tokens=args.tokens)
    # As `make run` does before daphne starts.
    call_command("recover_streams", stdout=open(os.devnull, "w"))  # noqa: SIM115
    print(json.dumps(output))


def _users(names: list[str]) -> list[Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    user_model = get_user_model()
    unusable = make_password(None)
    users = user_model.objects.bulk_create(
        [user_model(username=name, password=unusable) for name in names]
    )
    if not all(user.pk for user in users):  # Backends that do not return ids (none here).
        users = list(user_model.objects.filter(username__in=names).order_by("pk"))
    return users


def _sessions(users: list[Any]) -> list[str]:
    """A signed-in session for each user, written as a login writes it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    engine = import_module(settings.SESSION_ENGINE)
    backend = "django.contrib.auth.backends.ModelBackend"
    sessions: list[str] = []
    rows: list[Session] = []
    expires = timezone.now() + timedelta(days=1)
    for user in users:
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: backend,
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        store = engine.SessionStore()
        if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
            key = store._get_new_session_key()
            rows.append(
                Session(session_key=key, session_data=store.encode(data), expire_date=expires)
            )
        else:
            store.update(data)
            store.create()
            key = store.session_key
        sessions.append(key)
    Session.objects.bulk_create(rows)
    return sessions


def _chats(tag: str, count: int, *, tokens: bool = False) -> list[dict[str, Any]]:
    """`count` users, each with a session and one empty conversation (and with `tokens`,
    an API token with the chat scope, for the /v1 scenarios)."""
    from django.conf import settings

    from accounts import api_tokens
    from conversations.models import Conversation

    users = _users([f"bench-{tag}-{i}" for i in range(count)])
    model = settings.OPENAI_API_MODELS[0]
    conversations = Conversation.objects.bulk_create(
        [Conversation(user=user, title="Bench chat", model=model) for user in users]
    )
    chats: list[dict[str, Any]] = [
        {"session": key, "conversation": conversation.pk}
        for key, conversation in zip(_sessions(users), conversations, strict=True)
    ]
    if tokens:
        for chat, user in zip(chats, users, strict=True):
            chat["token"] = api_tokens.create(user=user, name="bench", scopes=["chat"]).secret
    return chats


def _pages() -> dict[str, Any]:
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from conversations import markdown
    from conversations.models import Conversation, Message
    from conversations.views import SIDEBAR_PAGE, THREAD_PAGE

    model = settings.OPENAI_API_MODELS[0]
    html = markdown.render(ANSWER)
    now = timezone.now()
    done = Message.Status.DONE

    def message(conversation: Conversation, number: int, parent: Message | None) -> Message:
        user = number % 2 == 1
        return Message(
            conversation=conversation, parent=parent,
            role=Message.Role.USER if user else Message.Role.ASSISTANT,
            content=f"Question {number}: how do I group the lines of a file?" if user else ANSWER,
            html="" if user else html, status=done, model="" if user else model,
            finished_at=now,
        )  # fmt: skip

    names = [*SIDEBAR_USERS, "long"]
    users = dict(zip(names, _users([f"bench-pages-{name}" for name in names]), strict=True))
    sessions = dict(zip(names, _sessions(list(users.values())), strict=True))
    out: dict[str, Any] = {"users": {}}
    with transaction.atomic():
        for name, count in SIDEBAR_USERS.items():
            # Oldest first; each a minute newer than the one before (the sidebar's order).
            conversations = Conversation.objects.bulk_create(
                [
                    Conversation(
                        user=users[name],
                        title=f"Chat {i + 1} about grouping lines",
                        model=model,
                        updated_at=now - timedelta(minutes=count - i),
                    )
                    for i in range(count)
                ]
            )
            questions = Message.objects.bulk_create(
                [message(c, 1, None) for c in conversations], batch_size=500
            )
            answers = Message.objects.bulk_create(
                [message(c, 2, q) for c, q in zip(conversations, questions, strict=True)],
                batch_size=500,
            )
            for conversation, answer in zip(conversations, answers, strict=True):
                conversation.current_leaf = answer
            Conversation.objects.bulk_update(conversations, ["current_leaf"], batch_size=500)
            out["users"][name] = {
                "session": sessions[name],
                "newest": conversations[-1].pk,
                # The last row of the sidebar's first page: "Load more" continues after it.
                "oldest_shown": conversations[-SIDEBAR_PAGE].pk if count > SIDEBAR_PAGE else None,
            }
        long = Conversation.objects.create(
            user=users["long"], title="A long conversation", model=model
        )
        path: list[Message] = []
        for number in range(1, LONG_MESSAGES + 1):
            path.append(message(long, number, path[-1] if path else None))
            path[-1].save()
        long.current_leaf = path[-1]
        long.save(update_fields=["current_leaf"])
    out["users"]["long"] = {
        "session": sessions["long"],
        "newest": long.pk,
        "oldest_shown": None,
        # The first message the page shows: "Show earlier messages" continues before it.
        "first_shown": path[-THREAD_PAGE].pk,
    }
    return out


def _ledger(rows: int) -> dict[str, Any]:
    """A staff user and `rows` usage records (priced: 1.25 per million prompt tokens and
    5.00 per million answer tokens) spread evenly over the LEDGER_DAYS before today in
    TIME_ZONE, across LEDGER_MODELS models and LEDGER_USERS users; inserted in batches."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from catalog import costs
    from catalog.models import UsageRecord

    staff = get_user_model().objects.create_superuser("bench-pages-admin", password=None)
    (session,) = _sessions([staff])
    today = timezone.localdate()
    start = today - timedelta(days=LEDGER_DAYS)
    first = timezone.make_aware(
        datetime.combine(start, datetime.min.time()), timezone.get_default_timezone()
    )
    spacing = timedelta(days=LEDGER_DAYS) / max(1, rows)
    prices = (Decimal("1.25"), Decimal("5.00"))
    batch: list[UsageRecord] = []
    for index in range(rows):
        prompt, completion = 200 + index % 800, 50 + index % 400
        batch.append(
            UsageRecord(
                username=f"bench-user-{index % LEDGER_USERS}",
                provider="bench",
                model=f"bench-model-{index % LEDGER_MODELS}",
                kind="answer",
                outcome="done",
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
                cost=costs.cost(prompt, completion, prices),
                created_at=first + spacing * index,
            )
        )
        if len(batch) == 10_000:
            UsageRecord.objects.bulk_create(batch)
            batch = []
    UsageRecord.objects.bulk_create(batch)
    end = today - timedelta(days=1)
    return {"session": session, "start": start.isoformat(), "end": end.isoformat()}


if __name__ == "__main__":
    main()
