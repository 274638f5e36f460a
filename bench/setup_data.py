"""Create the users, sessions and conversations of one scenario, before the load.

Run with the app's settings (the runner gives it the same environment as daphne):

    python -m bench.setup_data --tag c50 --count 51

Fast on purpose: users get an unusable password (no hashing), sessions are written straight
through Django's session store as a login would write them, and everything is bulk-inserted.
One user with a real password is kept for the check through the real sign-in page. Prints
JSON: {"login": {...}, "chats": [{"session": key, "conversation": id}, ...]}.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import timedelta
from importlib import import_module

LOGIN_USER = "bench-login"
LOGIN_PASSWORD = "bench-login-password-1"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.setup_data")
    parser.add_argument("--tag", required=True, help="makes this scenario's user names unique")
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatweb.settings")
    import django

    django.setup()

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.utils import timezone

    from conversations.models import Conversation

    user_model = get_user_model()
    if not user_model.objects.filter(username=LOGIN_USER).exists():
        user_model.objects.create_user(LOGIN_USER, password=LOGIN_PASSWORD)

    unusable = make_password(None)
    users = user_model.objects.bulk_create(
        [user_model(username=f"bench-{args.tag}-{i}", password=unusable) for i in range(args.count)]
    )
    if not all(user.pk for user in users):  # Backends that do not return ids (none here).
        users = list(user_model.objects.filter(username__startswith=f"bench-{args.tag}-"))
    model = settings.OPENAI_API_MODELS[0]
    conversations = Conversation.objects.bulk_create(
        [Conversation(user=user, title="Bench chat", model=model) for user in users]
    )

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

    # As `make run` does before daphne starts.
    call_command("recover_streams", stdout=open(os.devnull, "w"))  # noqa: SIM115
    print(
        json.dumps(
            {
                "login": {"username": LOGIN_USER, "password": LOGIN_PASSWORD},
                "chats": [
                    {"session": key, "conversation": conversation.pk}
                    for key, conversation in zip(sessions, conversations, strict=True)
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
