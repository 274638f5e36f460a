"""The account menu at the sidebar's foot: the links that used to fill it, admin-only ones
only for admins, behind a button with the user's name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from conversations.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _back_to_english() -> Iterator[None]:
    """A request in Chinese leaves its language active in the thread (LocaleMiddleware
    activates, nothing deactivates): the next test must not see it."""
    yield
    translation.deactivate()


ADMIN_PATHS = ("/admin/", "/admin/auth/user/add/", "/admin-tools/diagnostics/")


def _menu(client: Client, language: str = "en") -> str:
    html = client.get("/", headers={"accept-language": language}).content.decode()
    match = re.search(r'<div class="account-menu".*?</div>\s*<button', html, re.S)
    assert match, "no account menu on the page"
    return match.group(0)


def test_the_menu_is_a_button_with_the_users_name_controlling_a_hidden_menu(alice_client):
    html = alice_client.get("/").content.decode()

    button = re.search(r'<button[^>]*id="account-button"[^>]*>(.*?)</button>', html, re.S)
    assert button
    assert 'aria-haspopup="menu"' in button.group(0)
    assert 'aria-expanded="false"' in button.group(0)
    assert 'aria-controls="account-menu"' in button.group(0)
    assert "alice" in button.group(1)
    assert re.search(r'id="account-menu" role="menu" aria-labelledby="account-button" hidden', html)
    # The old footer of links is gone: every link is in the menu now.
    assert "foot-links" not in html


def test_a_user_gets_their_links_and_sign_out_but_no_admin_links(alice_client):
    menu = _menu(alice_client)

    for path in ("/settings/", "/usage/", "/prompts/", "/shared/", "/import/"):
        assert f'href="{path}"' in menu, path
    assert 'action="/accounts/logout/"' in menu
    for path in ADMIN_PATHS:
        assert f'href="{path}"' not in menu, path
    # Every entry is a menu item out of the Tab order (the arrows move between them).
    items = re.findall(r"<(?:a|button)[^>]*>", menu)
    assert items
    assert all('role="menuitem" tabindex="-1"' in item for item in items)


def test_an_admin_also_gets_the_admin_the_new_user_form_and_the_self_test(
    alice: Any, alice_client: Client
):
    alice.is_staff = True
    alice.save()

    menu = _menu(alice_client)

    for path in ADMIN_PATHS:
        assert f'href="{path}"' in menu, path


def test_delete_all_is_offered_only_when_there_is_something_to_delete(alice, alice_client):
    assert "data-delete-all" not in _menu(alice_client)

    Conversation.objects.create(user=alice, title="Hello", model="fake-model")

    menu = _menu(alice_client)
    assert "data-delete-all" in menu
    assert 'data-confirm="' in menu


def test_the_menu_is_in_chinese_for_a_chinese_reader(alice_client):
    html = alice_client.get("/", headers={"accept-language": "zh-Hans"}).content.decode()

    assert '<span class="visually-hidden">账户菜单</span>' in html
    assert "退出登录" in _menu(alice_client, "zh-Hans")
