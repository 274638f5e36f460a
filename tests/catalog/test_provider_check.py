"""A provider's "Test connection": the button on its own page, and the stored last check."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from catalog import clock
from catalog.models import Provider
from tests.catalog.conftest import CANARY_KEY

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 14, 10, 30, tzinfo=dt.UTC)


def page(response) -> str:
    return str(response.content.decode())


def check_url(provider: Provider) -> str:
    return reverse("admin:catalog_provider_test_connection", args=[provider.pk])


def test_the_providers_page_has_a_test_connection_button_that_posts(admin_client, ollama):
    body = page(admin_client.get(reverse("admin:catalog_provider_change", args=[ollama.pk])))
    form_start = body.index(f'action="{check_url(ollama)}"')
    form = body[body.rindex("<form", 0, form_start) : body.index("</form>", form_start)]
    assert 'method="post"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    assert ">Test connection</button>" in form
    assert "Never checked" in body


def test_the_button_tests_stores_and_says_so_on_the_page(admin_client, ollama, fake_upstream):
    with clock.frozen(AT):
        response = admin_client.post(check_url(ollama), follow=True)
    assert response.redirect_chain == [
        (reverse("admin:catalog_provider_change", args=[ollama.pk]), 302)
    ]
    body = page(response)
    assert "Connected to ollama: 3 models listed." in body
    assert [r.path for r in fake_upstream.requests] == ["/v1/models"]
    ollama.refresh_from_db()
    assert (ollama.checked_at, ollama.check_ok, ollama.check_code) == (AT, True, "")
    assert "Worked: " in body


def test_a_failed_check_is_stored_with_its_code_and_never_the_key(admin_client, keyed_upstream):
    provider = Provider(name="wrong", base_url=keyed_upstream.base_url)
    provider.set_api_key(CANARY_KEY + "-wrong")
    provider.save()
    body = page(admin_client.post(check_url(provider), follow=True))
    assert "Could not connect to wrong (upstream_http_error)" in body
    assert "answered HTTP 401" in body
    provider.refresh_from_db()
    assert (provider.check_ok, provider.check_code) == (False, "upstream_http_error")
    assert "HTTP 401" in provider.check_detail
    assert CANARY_KEY not in body
    assert CANARY_KEY not in provider.check_detail


def test_an_unreachable_server_is_stored_as_unreachable(admin_client):
    provider = Provider.objects.create(name="gone", base_url="http://127.0.0.1:9/v1")
    body = page(admin_client.post(check_url(provider), follow=True))
    assert "Could not connect to gone (upstream_unreachable)" in body
    provider.refresh_from_db()
    assert provider.check_code == "upstream_unreachable"
    assert "Failed: " in body


def test_a_get_tests_nothing(admin_client, ollama, fake_upstream):
    response = admin_client.get(check_url(ollama))
    assert response.status_code == 302
    assert fake_upstream.requests == []
    ollama.refresh_from_db()
    assert ollama.checked_at is None


def test_the_button_needs_the_csrf_token(admin_user, ollama, fake_upstream):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(check_url(ollama)).status_code == 403
    assert fake_upstream.requests == []


def test_the_button_needs_a_staff_user(client, alice, ollama, fake_upstream):
    client.force_login(alice)
    response = client.post(check_url(ollama))
    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert fake_upstream.requests == []


def test_the_list_action_stays_and_stores_its_results_too(admin_client, ollama, openai):
    with clock.frozen(AT):
        response = admin_client.post(
            reverse("admin:catalog_provider_changelist"),
            {"action": "test_connection", "_selected_action": [ollama.pk, openai.pk]},
        )
    assert page(response).count("Connected: 3 models listed.") == 2
    assert list(
        Provider.objects.order_by("name").values_list("name", "checked_at", "check_ok")
    ) == [
        ("ollama", AT, True),
        ("openai", AT, True),
    ]


def test_a_stored_check_does_not_drop_the_catalog_snapshot(admin_client, ollama):
    from catalog import snapshot

    before = snapshot.get()
    admin_client.post(check_url(ollama))
    assert snapshot.get() is before
