"""Account protections (docs/security.md): sign-in and sign-up throttling, the first-run
setup race, and titles that only look empty."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test import Client

from accounts import protection

pytestmark = pytest.mark.django_db

User = get_user_model()


ATTACKER = "203.0.113.66"  # address A: someone guessing alice's password
OWNER = "198.51.100.7"  # address B: alice, at home


def _login(client: Client, username: str, password: str, address: str = "10.0.0.1") -> Any:
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def _admin_login(client: Client, username: str, password: str, address: str) -> Any:
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by the test (no sleeping, no timing assertions)."""

    class Clock:
        now = 1_000_000.0

        def __call__(self) -> float:
            return self.now

        def advance(self, seconds: float) -> None:
            self.now += seconds

    fake = Clock()
    monkeypatch.setattr(protection, "clock", fake)
    return fake


def test_an_attackers_failures_do_not_lock_the_owner_out(alice):
    """Issue 17, finding 4: five wrong passwords from anywhere locked the account."""
    attacker, owner = Client(), Client()
    for _ in range(12):
        assert _login(attacker, "alice", "wrong", ATTACKER).status_code in (200, 429)

    # The owner, from her own address, signs in with her password.
    assert _login(owner, "alice", "alice-password-1", OWNER).status_code == 302
    assert owner.session["_auth_user_id"] == str(alice.pk)
    # The attacker is throttled at his address, even with the right password.
    response = _login(attacker, "alice", "alice-password-1", ATTACKER)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in response.text
    assert "_auth_user_id" not in attacker.session


def test_an_attackers_failures_on_the_admin_do_not_lock_the_administrator_out(
    django_user_model,
):
    root = django_user_model.objects.create_superuser("root", password="root-password-1")
    attacker, owner = Client(), Client()
    for _ in range(12):
        assert _admin_login(attacker, "root", "wrong", ATTACKER).status_code == 200

    response = _admin_login(owner, "root", "root-password-1", OWNER)
    assert response.status_code == 302
    assert owner.session["_auth_user_id"] == str(root.pk)
    response = _admin_login(attacker, "root", "root-password-1", ATTACKER)
    assert response.status_code == 200
    assert "Too many failed sign-in attempts." in response.text
    assert "_auth_user_id" not in attacker.session


def test_the_app_and_the_admin_count_together(client, django_user_model, settings):
    django_user_model.objects.create_superuser("root", password="root-password-1")
    settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = 4
    for _ in range(2):
        _login(client, "root", "wrong", ATTACKER)
        _admin_login(client, "root", "wrong", ATTACKER)
    assert _login(client, "root", "root-password-1", ATTACKER).status_code == 429
    assert "Too many failed" in _admin_login(client, "root", "root-password-1", ATTACKER).text


def test_an_account_and_address_pair_is_locked_after_its_limit(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = 3
    settings.LOGIN_LOCKOUT_SECONDS = 900
    for _ in range(3):
        assert _login(client, "alice", "wrong", ATTACKER).status_code == 200
    response = _login(client, "alice", "alice-password-1", ATTACKER)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in response.text
    # The username is matched regardless of case.
    assert _login(client, "ALICE", "alice-password-1", ATTACKER).status_code == 429
    # Another account from that address is not locked by alice's count...
    assert _login(client, "bob", "wrong", ATTACKER).status_code == 200
    # ...nor alice from another address.
    assert _login(Client(), "alice", "alice-password-1", OWNER).status_code == 302


def test_the_lock_ends_with_its_window(client, alice, settings, clock):
    settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = 2
    settings.LOGIN_LOCKOUT_SECONDS = 600
    _login(client, "alice", "wrong", ATTACKER)
    clock.advance(100)
    _login(client, "alice", "wrong", ATTACKER)
    response = _login(client, "alice", "alice-password-1", ATTACKER)
    assert "Try again in 9 minutes." in response.text  # 500 s: the window began 100 s ago
    clock.advance(499)
    assert "Try again in 1 s." in _login(client, "alice", "alice-password-1", ATTACKER).text
    clock.advance(1)
    assert _login(client, "alice", "alice-password-1", ATTACKER).status_code == 302


def test_sign_in_is_refused_after_too_many_failures_from_one_address(client, alice, bob, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    for name in ("carol", "dave", "erin"):
        _login(client, name, "guess")
    response = _login(client, "bob", "bob-password-1")
    assert response.status_code == 429
    assert "Try again in" in response.text
    # Another address is not affected.
    assert _login(client, "bob", "bob-password-1", "10.9.9.9").status_code == 302


def test_failures_spread_over_addresses_slow_the_account_down_never_lock_it(alice, settings, clock):
    """Many addresses guessing one account: past LOGIN_FAILURES_PER_ACCOUNT each new try
    on it waits 1, 2, 4... s (at most LOGIN_SLOWDOWN_MAX_SECONDS), never a lockout."""
    settings.LOGIN_FAILURES_PER_ACCOUNT = 4
    settings.LOGIN_SLOWDOWN_MAX_SECONDS = 4
    owner = Client()
    # Alice signed in from home before: her usual address.
    assert _login(owner, "alice", "alice-password-1", OWNER).status_code == 302
    owner.logout()
    for n in range(4):
        assert _login(Client(), "alice", "wrong", f"203.0.113.{n}").status_code == 200

    stranger = Client()
    response = _login(stranger, "alice", "alice-password-1", "192.0.2.1")
    assert response.status_code == 429
    assert "Try again in 1 s." in response.text
    # Her usual address is not slowed down by others' failures.
    assert _login(owner, "alice", "alice-password-1", OWNER).status_code == 302
    owner.logout()

    waits = []
    for n in range(4):
        refused = _login(Client(), "alice", "wrong", f"203.0.115.{n}")
        assert refused.status_code == 429
        wait = re.search(r"Try again in (\d+) s\.", refused.text)
        assert wait is not None
        waits.append(int(wait[1]))
        clock.advance(waits[-1])
        assert _login(Client(), "alice", "wrong", f"203.0.116.{n}").status_code == 200
    # Each refused try waited, then one failure made the next wait longer, up to the cap.
    assert waits == [1, 2, 4, 4]
    # After the wait, the right password from a new address signs in: slowed, not locked.
    clock.advance(4)
    assert _login(stranger, "alice", "alice-password-1", "192.0.2.1").status_code == 302


def test_a_successful_sign_in_resets_the_pairs_count(client, alice, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 0
    _login(client, "alice", "wrong")
    _login(client, "alice", "wrong")
    assert _login(client, "alice", "alice-password-1").status_code == 302
    client.logout()
    _login(client, "alice", "wrong")
    _login(client, "alice", "wrong")
    assert _login(client, "alice", "alice-password-1").status_code == 302


def test_the_address_is_the_one_daphne_gives_not_a_header_the_client_sends(client, alice):
    """Behind nginx, daphne (--proxy-headers) sets REMOTE_ADDR from X-Forwarded-For, which
    nginx overwrites with the address it saw; the app never reads the header itself."""
    for n in range(5):
        client.post(
            "/accounts/login/",
            {"username": "alice", "password": "wrong"},
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    assert _login(client, "alice", "alice-password-1", ATTACKER).status_code == 429


def test_an_admin_sees_the_locks_and_lifts_one(client, alice, django_user_model, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = 2
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    root = django_user_model.objects.create_superuser("root", password="root-password-1")
    for _ in range(2):
        _login(client, "alice", "wrong", ATTACKER)
    _login(client, "bob", "wrong", "10.0.0.9")
    _login(client, "carol", "wrong", "10.0.0.9")
    _login(client, "dave", "wrong", "10.0.0.9")
    assert _login(client, "alice", "alice-password-1", ATTACKER).status_code == 429
    admin = Client()
    admin.force_login(root)

    page = admin.get("/admin/sign-in-locks/")
    assert page.status_code == 200
    rows = page.context["rows"]
    assert [(r["lock"].kind, r["lock"].username, r["lock"].address) for r in rows] == [
        (protection.PAIR, "alice", ATTACKER),
        (protection.ADDRESS, "", "10.0.0.9"),
    ]
    assert "This account from this address" in page.text
    assert "Every account from this address" in page.text
    assert ATTACKER in page.text
    # The admin's index links to it.
    assert 'href="/admin/sign-in-locks/"' in admin.get("/admin/").text

    lifted = admin.post("/admin/sign-in-locks/", {"lock": rows[0]["lock"].id}, follow=True)
    assert "The lock is lifted" in lifted.text
    assert [r["lock"].address for r in lifted.context["rows"]] == ["10.0.0.9"]
    assert _login(client, "alice", "alice-password-1", ATTACKER).status_code == 302
    # Lifting one that has ended says so.
    again = admin.post("/admin/sign-in-locks/", {"lock": rows[0]["lock"].id}, follow=True)
    assert "That lock had already ended." in again.text


def test_an_account_slowdown_is_listed_and_lifted(alice, django_user_model, settings, clock):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    root = django_user_model.objects.create_superuser("root", password="root-password-1")
    for n in range(3):
        _login(Client(), "alice", "wrong", f"203.0.113.{n}")
    assert _login(Client(), "alice", "alice-password-1", OWNER).status_code == 429
    admin = Client()
    admin.force_login(root)
    (row,) = admin.get("/admin/sign-in-locks/").context["rows"]
    assert (row["lock"].kind, row["lock"].username, row["lock"].failures) == (
        protection.ACCOUNT, "alice", 3,
    )  # fmt: skip
    admin.post("/admin/sign-in-locks/", {"lock": row["lock"].id})
    assert _login(Client(), "alice", "alice-password-1", OWNER).status_code == 302
    assert "No sign-in is locked" in admin.get("/admin/sign-in-locks/").text


def test_the_locks_page_is_for_admins_who_may_change_users(client, alice, django_user_model):
    assert client.get("/admin/sign-in-locks/")["Location"].startswith("/admin/login/")
    client.force_login(alice)
    assert client.get("/admin/sign-in-locks/").status_code == 302  # not staff
    staff = django_user_model.objects.create_user("staff", password="x-password-1", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/sign-in-locks/").status_code == 403
    assert client.post("/admin/sign-in-locks/", {"lock": "x"}).status_code == 403


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
