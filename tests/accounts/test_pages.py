"""Account pages a newcomer meets: sign-up when it is off, the admin's menu."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_signup_url_with_signup_off_is_the_apps_page(client, alice, settings):
    settings.ALLOW_SIGNUP = False

    response = client.get("/accounts/signup/")

    assert response.status_code == 404
    assert "Sign-up is off" in response.text
    assert "Ask them for one." in response.text
    assert 'href="/accounts/login/"' in response.text
    # The app's stylesheet: not Django's bare "Not Found".
    assert "css/app" in response.text


def test_admins_reach_add_a_user_and_the_self_test_from_the_menu(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="root-password-1")
    client.force_login(admin)

    html = client.get("/").text

    assert 'href="/admin/auth/user/add/"' in html
    assert 'href="/admin-tools/diagnostics/"' in html
    assert 'href="/settings/"' in html


def test_others_see_settings_but_no_admin_links(alice_client):
    html = alice_client.get("/").text

    assert 'href="/settings/"' in html
    assert "/admin/auth/user/add/" not in html
    assert "/admin-tools/diagnostics/" not in html
