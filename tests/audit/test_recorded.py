"""One audit entry per action the log promises (docs/security.md, "Audit log"), with its
actor, action and target, each done the way people do it: a page, the admin, the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client, override_settings
from django.urls import reverse

from accounts import api_tokens
from audit.models import Action, AuditEvent
from catalog.models import ChatModel, Provider
from conversations import sharing
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

SECRET_KEY_VALUE = "sk-audit-canary-2b7e151628aed2a6"


@dataclass
class World:
    alice: Any
    admin: Any
    alice_client: Client
    admin_client: Client
    chat: Conversation
    team: Group
    provider: Provider
    before: int  # the last entry the set-up wrote


@dataclass(frozen=True)
class Expected:
    actor: str  # the username kept, "" for nobody signed in
    action: Action
    target_type: str
    target_label: str
    count: int = 1
    details: dict[str, Any] | None = None  # what the (last) entry's details hold


def _form(user: Any, **changes: Any) -> dict[str, Any]:
    """The admin's user change form as it would be posted back unchanged."""
    data = {
        "username": user.username, "first_name": user.first_name, "last_name": user.last_name,
        "email": user.email, "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [g.pk for g in user.groups.all()], "user_permissions": [],
        "last_login_0": "", "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }  # fmt: skip
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def _ok(response: Any, status: int = 302) -> None:
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode()
    errors = [line for line in body.splitlines() if "errorlist" in line or "errornote" in line]
    assert response.status_code == status, errors or body[:500]


def _provider_form(**changes: Any) -> dict[str, Any]:
    return {
        "name": "local", "base_url": "http://127.0.0.1:9/v1", "api_key": SECRET_KEY_VALUE,
        "extra_headers": "{}", "timeout_seconds": "30", "enabled": "on", "title_model": "",
        "proxy_mode": "env", **changes,
    }  # fmt: skip


# --- The actions --------------------------------------------------------------------------


def sign_in(w: World) -> Expected:
    _ok(Client().post("/accounts/login/", {"username": "alice", "password": "alice-password-1"}))
    return Expected("alice", Action.SIGNIN, "auth.user", "alice")


def sign_in_wrong_password(w: World) -> Expected:
    _ok(Client().post("/accounts/login/", {"username": "alice", "password": "guess"}), 200)
    return Expected("", Action.SIGNIN_FAILED, "auth.user", "alice", details={"username": "alice"})


def sign_in_unknown_user(w: World) -> Expected:
    _ok(Client().post("/accounts/login/", {"username": "mallory", "password": "guess"}), 200)
    return Expected("", Action.SIGNIN_FAILED, "auth.user", "mallory")


def sign_in_throttled(w: World) -> Expected:
    """A wrong password, then a try refused by the throttle before any password check."""
    with override_settings(LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS=1):
        for password in ("guess", "alice-password-1"):
            Client().post("/accounts/login/", {"username": "alice", "password": password})
    return Expected(
        "", Action.SIGNIN_FAILED, "auth.user", "alice", count=2,
        details={"username": "alice", "reason": "throttled"},
    )  # fmt: skip


def admin_sign_in(w: World) -> Expected:
    _ok(Client().post("/admin/login/", {"username": "root", "password": "root-password-1"}))
    return Expected("root", Action.SIGNIN, "auth.user", "root")


def sign_out(w: World) -> Expected:
    _ok(w.alice_client.post("/accounts/logout/"))
    return Expected("alice", Action.SIGNOUT, "auth.user", "alice")


def admin_creates_account(w: World) -> Expected:
    _ok(w.admin_client.post(reverse("admin:auth_user_add"), {
        "username": "carol", "password1": "carol-Password-9", "password2": "carol-Password-9",
        "usable_password": "true",
    }))  # fmt: skip
    return Expected("root", Action.ACCOUNT_CREATE, "auth.user", "carol")


def admin_makes_staff(w: World) -> Expected:
    url = reverse("admin:auth_user_change", args=[w.alice.pk])
    _ok(w.admin_client.post(url, _form(w.alice, is_staff="on")))
    return Expected(
        "root", Action.ACCOUNT_CHANGE, "auth.user", "alice",
        details={"fields": ["is_staff"], "flags": {"is_staff": True}},
    )  # fmt: skip


def admin_deactivates(w: World) -> Expected:
    url = reverse("admin:auth_user_change", args=[w.alice.pk])
    _ok(w.admin_client.post(url, _form(w.alice, is_active="")))
    return Expected(
        "root", Action.ACCOUNT_CHANGE, "auth.user", "alice",
        details={"fields": ["is_active"], "flags": {"is_active": False}},
    )  # fmt: skip


def admin_adds_to_group(w: World) -> Expected:
    url = reverse("admin:auth_user_change", args=[w.alice.pk])
    _ok(w.admin_client.post(url, _form(w.alice, groups=[w.team.pk])))
    return Expected(
        "root", Action.ACCOUNT_GROUPS, "auth.user", "alice", details={"added": ["team"]}
    )


def admin_deletes_account(w: World) -> Expected:
    url = reverse("admin:auth_user_delete", args=[w.alice.pk])
    _ok(w.admin_client.post(url, {"post": "yes"}))
    return Expected("root", Action.ACCOUNT_DELETE, "auth.user", "alice")


def admin_creates_group(w: World) -> Expected:
    _ok(w.admin_client.post(reverse("admin:auth_group_add"), {"name": "writers"}))
    return Expected("root", Action.GROUP_CREATE, "auth.group", "writers")


def admin_renames_group(w: World) -> Expected:
    url = reverse("admin:auth_group_change", args=[w.team.pk])
    _ok(w.admin_client.post(url, {"name": "editors"}))
    return Expected("root", Action.GROUP_CHANGE, "auth.group", "editors")


def admin_deletes_group(w: World) -> Expected:
    url = reverse("admin:auth_group_delete", args=[w.team.pk])
    _ok(w.admin_client.post(url, {"post": "yes"}))
    return Expected("root", Action.GROUP_DELETE, "auth.group", "team")


def admin_adds_provider(w: World) -> Expected:
    _ok(w.admin_client.post(reverse("admin:catalog_provider_add"), _provider_form()))
    return Expected("root", Action.ADMIN_ADD, "catalog.provider", "local")


def admin_changes_provider_key(w: World) -> Expected:
    url = reverse("admin:catalog_provider_change", args=[w.provider.pk])
    _ok(w.admin_client.post(url, _provider_form(name="upstream")))
    return Expected(
        "root", Action.ADMIN_CHANGE, "catalog.provider", "upstream",
        details={"changed": ["API key", "Extra headers", "Timeout (seconds)"]},
    )  # fmt: skip


def admin_deletes_provider(w: World) -> Expected:
    url = reverse("admin:catalog_provider_delete", args=[w.provider.pk])
    _ok(w.admin_client.post(url, {"post": "yes"}))
    return Expected("root", Action.ADMIN_DELETE, "catalog.provider", "upstream")


def admin_deletes_providers_at_once(w: World) -> Expected:
    other = Provider.objects.create(name="second", base_url="http://127.0.0.1:9/v1")
    _ok(w.admin_client.post(reverse("admin:catalog_provider_changelist"), {
        "action": "delete_selected", "_selected_action": [w.provider.pk, other.pk],
        "post": "yes",
    }))  # fmt: skip
    return Expected("root", Action.ADMIN_DELETE, "catalog.provider", "upstream", count=2)


def admin_adds_model_for_a_group(w: World) -> Expected:
    _ok(w.admin_client.post(reverse("admin:catalog_chatmodel_add"), {
        "provider": w.provider.pk, "model_id": "fake-model", "name": "llama",
        "display_name": "", "enabled": "on", "context_window": "8192",
        "max_output_tokens": "512", "default_temperature": "", "groups": [w.team.pk],
        "position": "0",
    }))  # fmt: skip
    return Expected("root", Action.ADMIN_ADD, "catalog.chatmodel", "llama")


def admin_grants_model(w: World) -> Expected:
    model = ChatModel.objects.create(provider=w.provider, model_id="m", name="m1")
    _ok(w.admin_client.post(reverse("admin:catalog_chatmodel_change", args=[model.pk]), {
        "provider": w.provider.pk, "model_id": "m", "name": "m1", "display_name": "",
        "enabled": "on", "context_window": str(model.context_window),
        "max_output_tokens": str(model.max_output_tokens), "default_temperature": "",
        "groups": [w.team.pk], "users": [w.alice.pk], "position": "0",
    }))  # fmt: skip
    return Expected(
        "root", Action.ADMIN_CHANGE, "catalog.chatmodel", "m1",
        details={"changed": ["Groups", "Users"]},
    )  # fmt: skip


def admin_sets_quota(w: World) -> Expected:
    _ok(w.admin_client.post(reverse("admin:catalog_quota_add"), {
        "user": "", "group": w.team.pk, "requests_per_hour": "10", "tokens_per_day": "",
        "tokens_per_month": "", "concurrent_answers": "",
    }))  # fmt: skip
    return Expected("root", Action.ADMIN_ADD, "catalog.quota", "Quota for group team")


def token_created(w: World) -> Expected:
    _ok(w.alice_client.post("/settings/tokens/", {
        "token-name": "laptop", "token-scopes": ["chat"], "token-days": "30",
    }), 201)  # fmt: skip
    return Expected("alice", Action.TOKEN_CREATE, "accounts.apitoken", "laptop")


def token_revoked(w: World) -> Expected:
    token = api_tokens.create(user=w.alice, name="old", scopes=["chat"]).token
    _ok(w.alice_client.post(f"/settings/tokens/{token.public_id}/revoke/"))
    return Expected("alice", Action.TOKEN_REVOKE, "accounts.apitoken", "old")


def token_revoked_by_admin(w: World) -> Expected:
    token = api_tokens.create(user=w.alice, name="leaked", scopes=["chat"]).token
    _ok(w.admin_client.post(reverse("admin:accounts_apitoken_changelist"), {
        "action": "revoke", "_selected_action": [token.pk],
    }))  # fmt: skip
    return Expected("root", Action.TOKEN_REVOKE, "accounts.apitoken", "leaked")


def share_created(w: World) -> Expected:
    _ok(w.alice_client.post(f"/c/{w.chat.pk}/share/", headers={"Accept": "application/json"}), 200)
    return Expected("alice", Action.SHARE_CREATE, "conversations.sharedlink", "Plans")


def share_revoked(w: World) -> Expected:
    link = sharing.share_conversation(conversation=w.chat)
    _ok(w.alice_client.post(f"/shared/{link.token}/revoke/"))
    return Expected("alice", Action.SHARE_REVOKE, "conversations.sharedlink", "Plans")


def export_all(w: World) -> Expected:
    _ok(w.alice_client.get("/export/"), 200)
    return Expected("alice", Action.EXPORT, "auth.user", "alice")


def export_one_markdown(w: World) -> Expected:
    _ok(w.alice_client.get(f"/c/{w.chat.pk}/export.md"), 200)
    return Expected("alice", Action.EXPORT, "conversations.conversation", "Plans")


def import_file(w: World) -> Expected:
    document = b"".join(w.alice_client.get("/export/").streaming_content)  # type: ignore[attr-defined]
    from django.core.files.uploadedfile import SimpleUploadedFile

    _ok(w.alice_client.post("/import/", {"file": SimpleUploadedFile("c.json", document)}))
    return Expected(
        "alice", Action.IMPORT, "auth.user", "alice",
        details={"conversations": 1, "messages": 2},
    )  # fmt: skip


def delete_all(w: World) -> Expected:
    _ok(w.alice_client.post("/c/delete-all/"))
    return Expected("alice", Action.DELETE_ALL, "auth.user", "alice", details={"conversations": 1})


def archive_all(w: World) -> Expected:
    _ok(w.alice_client.post("/archive/all/"))
    return Expected("alice", Action.ARCHIVE_ALL, "auth.user", "alice")


ACTIONS: list[Callable[[World], Expected]] = [
    sign_in, sign_in_wrong_password, sign_in_unknown_user, sign_in_throttled,
    admin_sign_in, sign_out,
    admin_creates_account, admin_makes_staff, admin_deactivates, admin_adds_to_group,
    admin_deletes_account, admin_creates_group, admin_renames_group, admin_deletes_group,
    admin_adds_provider, admin_changes_provider_key, admin_deletes_provider,
    admin_deletes_providers_at_once, admin_adds_model_for_a_group, admin_grants_model,
    admin_sets_quota, token_created, token_revoked, token_revoked_by_admin, share_created,
    share_revoked, export_all, export_one_markdown, import_file,
    delete_all, archive_all,
]  # fmt: skip


@pytest.fixture
def world(alice: Any, django_user_model: Any) -> World:
    admin = django_user_model.objects.create_superuser("root", password="root-password-1")
    admin_client = Client()
    admin_client.force_login(admin)
    alice_client = Client()
    alice_client.force_login(alice)
    chat = Conversation.objects.create(user=alice, title="Plans", model="fake-model")
    question = Message.objects.create(
        conversation=chat, role="user", content="Hi", status=Message.Status.DONE
    )
    answer = Message.objects.create(
        conversation=chat, role="assistant", content="Hello", parent=question,
        status=Message.Status.DONE, html="<p>Hello</p>",
    )  # fmt: skip
    chat.current_leaf = answer
    chat.save()
    provider = Provider(name="upstream", base_url="http://127.0.0.1:9/v1")
    provider.set_api_key(SECRET_KEY_VALUE)
    provider.save()
    team = Group.objects.create(name="team")
    # What the set-up wrote is not what the test looks at.
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return World(alice, admin, alice_client, admin_client, chat, team, provider, before)


@pytest.mark.parametrize("act", ACTIONS, ids=lambda act: act.__name__)
def test_each_action_is_recorded_once_with_its_actor_and_target(act, world):
    expected = act(world)

    written = AuditEvent.objects.filter(pk__gt=world.before)
    events = list(written.filter(action=expected.action).order_by("id"))
    assert len(events) == expected.count, [(e.action, e.target_label) for e in events]
    for event in events:
        assert event.actor_username == expected.actor
        assert (event.actor_id is not None) == bool(expected.actor)
        assert event.target_type == expected.target_type
        assert event.address == "127.0.0.1"
    assert expected.target_label in [event.target_label for event in events]
    if expected.details is not None:
        assert events[-1].details == expected.details
    # Never a secret's value, whatever the action.
    everything = json.dumps([[e.target_label, e.details] for e in written])
    for secret in (SECRET_KEY_VALUE, "alice-password-1", "carol-Password-9", "guess", "cwp_"):
        assert secret not in everything
