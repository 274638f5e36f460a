"""Account protections (docs/security.md): sign-in and sign-up throttling, the first-run
setup race, and titles that only look empty."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test import Client

pytestmark = pytest.mark.django_db

User = get_user_model()


def _login(client: Client, username: str, password: str, address: str = "10.0.0.1") -> Any:
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def test_sign_in_is_refused_after_too_many_failures_for_the_account(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_LOCKOUT_SECONDS = 900
    for n in range(3):
        # From a new address each time: the account's own count locks it.
        assert _login(client, "alice", "wrong", f"10.0.0.{n}").status_code == 200
    response = _login(client, "alice", "alice-password-1", "10.0.1.1")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in response.text
    assert "_auth_user_id" not in client.session
    # The username is matched regardless of case.
    assert _login(client, "ALICE", "alice-password-1", "10.0.1.2").status_code == 429


def test_sign_in_is_refused_after_too_many_failures_from_one_address(client, alice, bob, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    for name in ("carol", "dave", "erin"):
        _login(client, name, "guess")
    response = _login(client, "bob", "bob-password-1")
    assert response.status_code == 429
    assert "Try again in" in response.text
    # Another address is not affected.
    assert _login(client, "bob", "bob-password-1", "10.9.9.9").status_code == 302


def test_a_successful_sign_in_resets_the_accounts_count(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 0
    _login(client, "alice", "wrong")
    _login(client, "alice", "wrong")
    assert _login(client, "alice", "alice-password-1").status_code == 302
    client.logout()
    _login(client, "alice", "wrong")
    _login(client, "alice", "wrong")
    assert _login(client, "alice", "alice-password-1").status_code == 302


def test_the_admin_login_is_throttled_too(client, django_user_model, settings):
    django_user_model.objects.create_superuser("root", password="root-password-1")
    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    for _ in range(2):
        client.post("/admin/login/", {"username": "root", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "root", "password": "root-password-1"})
    assert response.status_code == 200
    assert "Too many failed sign-in attempts." in response.text
    assert "_auth_user_id" not in client.session


def test_sign_up_is_throttled_per_address(client, alice, settings):
    settings.ALLOW_SIGNUP = True
    settings.SIGNUPS_PER_ADDRESS_PER_HOUR = 2
    for n in range(3):
        signup = Client()
        response = signup.post(
            "/accounts/signup/",
            {"username": f"user{n}", "password1": "a-long-passphrase-9",
             "password2": "a-long-passphrase-9"},
            REMOTE_ADDR="10.0.0.7",
        )  # fmt: skip
        assert response.status_code == (302 if n < 2 else 429)
    assert "Too many accounts created from your address. Try again in" in response.text
    assert not User.objects.filter(username="user2").exists()


@pytest.mark.parametrize("title", ["\u200b", "\u200b \u200c\u200d \u2060\ufeff", "\ufeff\u200b"])
def test_a_title_of_only_zero_width_characters_is_refused(alice_client, conversation, title):
    response = alice_client.post(f"/c/{conversation.pk}/rename/", {"title": title}, follow=True)
    conversation.refresh_from_db()
    assert conversation.title == "New chat"
    assert "A title cannot be empty." in response.text


def _set_up(username: str, barrier: threading.Barrier, statuses: list[int]) -> None:
    """One browser posting the setup form, on its own thread and database connection."""
    try:
        client = Client()
        barrier.wait()
        response = client.post(
            "/setup/",
            {"username": username, "password1": "a-long-passphrase-9",
             "password2": "a-long-passphrase-9"},
        )  # fmt: skip
        statuses.append(response.status_code)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_run_setups_create_exactly_one_admin():
    """Real concurrent requests, each thread on its own database connection."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself; the race is PostgreSQL's")
    for trial in range(4):
        User.objects.all().delete()
        barrier = threading.Barrier(4)
        statuses: list[int] = []
        threads = [
            threading.Thread(target=_set_up, args=(f"root{trial}{n}", barrier, statuses))
            for n in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(statuses) == 4
        assert User.objects.filter(is_superuser=True).count() == 1, f"trial {trial}"
        assert User.objects.count() == 1
