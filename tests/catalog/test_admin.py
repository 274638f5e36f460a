"""Providers and models in the admin: a write-only key, test connection, adding models."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import ChatModel, Provider
from tests.catalog.conftest import CANARY_KEY

pytestmark = pytest.mark.django_db


def page(response) -> str:
    return str(response.content.decode())


def test_an_admin_adds_a_provider_and_its_key_is_never_shown_back(admin_client, keyed_upstream):
    response = admin_client.post(
        reverse("admin:catalog_provider_add"),
        {
            "name": "openai",
            "base_url": keyed_upstream.base_url,
            "api_key": CANARY_KEY,
            "extra_headers": '{"OpenAI-Organization": "org-1"}',
            "timeout_seconds": "30",
            "enabled": "on",
            "title_model": "",
        },
    )
    assert response.status_code == 302, page(response)
    provider = Provider.objects.get(name="openai")
    assert provider.api_key() == CANARY_KEY
    assert CANARY_KEY not in provider.api_key_encrypted
    for url in [
        reverse("admin:catalog_provider_changelist"),
        reverse("admin:catalog_provider_change", args=[provider.pk]),
        reverse("admin:catalog_provider_history", args=[provider.pk]),
    ]:
        body = page(admin_client.get(url))
        assert CANARY_KEY not in body
        assert provider.api_key_encrypted not in body


def test_saving_a_provider_without_a_key_keeps_the_stored_one(admin_client, openai):
    data = {
        "name": "openai", "base_url": openai.base_url, "api_key": "",
        "extra_headers": "{}", "timeout_seconds": "7", "enabled": "on", "title_model": "",
    }  # fmt: skip
    response = admin_client.post(reverse("admin:catalog_provider_change", args=[openai.pk]), data)
    assert response.status_code == 302, page(response)
    openai.refresh_from_db()
    assert openai.api_key() == CANARY_KEY
    assert openai.timeout_seconds == 7
    data["clear_api_key"] = "on"
    admin_client.post(reverse("admin:catalog_provider_change", args=[openai.pk]), data)
    openai.refresh_from_db()
    assert openai.api_key() == ""


def test_a_bad_base_url_is_refused_and_nothing_is_written(admin_client):
    response = admin_client.post(
        reverse("admin:catalog_provider_add"),
        {"name": "bad", "base_url": "localhost:11434", "api_key": CANARY_KEY,
         "extra_headers": "{}", "timeout_seconds": "30"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "must be an http(s) URL" in page(response)
    assert CANARY_KEY not in page(response)
    assert not Provider.objects.exists()


def test_test_connection_lists_each_providers_models_over_http(
    admin_client, ollama, openai, fake_upstream, keyed_upstream, catalog_models
):
    response = admin_client.post(
        reverse("admin:catalog_provider_changelist"),
        {"action": "test_connection", "_selected_action": [ollama.pk, openai.pk]},
    )
    body = page(response)
    assert response.status_code == 200
    assert body.count("Connected: 3 models listed.") == 2
    assert "<code>gpt-4o</code> (already added)" in body
    assert 'name="model_id" value="gpt-4o"' in body  # not yet on ollama
    # Real HTTP: both servers were asked, the keyed one with the key and the extra header.
    assert [r.path for r in fake_upstream.requests] == ["/v1/models"]
    (probe,) = keyed_upstream.requests
    assert probe.headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert probe.headers["openai-organization"] == "org-test"
    assert CANARY_KEY not in body


def test_test_connection_explains_a_refused_key_without_echoing_it(admin_client, keyed_upstream):
    provider = Provider(name="wrong", base_url=keyed_upstream.base_url)
    provider.set_api_key("sk-wrong-key-123456")
    provider.save()
    response = admin_client.post(
        reverse("admin:catalog_provider_changelist"),
        {"action": "test_connection", "_selected_action": [provider.pk]},
    )
    body = page(response)
    assert "answered HTTP 401" in body
    assert "sk-wrong-key-123456" not in body


def test_test_connection_reports_an_unreachable_server(admin_client):
    provider = Provider.objects.create(name="gone", base_url="http://127.0.0.1:9/v1")
    response = admin_client.post(
        reverse("admin:catalog_provider_changelist"),
        {"action": "test_connection", "_selected_action": [provider.pk]},
    )
    assert "Could not reach http://127.0.0.1:9/v1/models" in page(response)


def test_the_listed_models_can_be_added_in_one_click(admin_client, ollama, catalog_models):
    response = admin_client.post(
        reverse("admin:catalog_provider_add_models"),
        {"provider": ollama.pk, "model_id": ["gpt-4o", "gpt-4o-mini", "fake-model"]},
    )
    assert response.status_code == 302
    added = ChatModel.objects.filter(provider=ollama).order_by("name")
    # fake-model is already llama's id on ollama; the other names were taken by openai's.
    assert [(m.model_id, m.name) for m in added] == [
        ("fake-model", "llama"),
        ("gpt-4o", "ollama/gpt-4o"),
        ("gpt-4o-mini", "ollama/gpt-4o-mini"),
    ]


def test_adding_models_needs_a_staff_user(client, alice, ollama):
    client.force_login(alice)
    response = client.post(
        reverse("admin:catalog_provider_add_models"), {"provider": ollama.pk, "model_id": ["x"]}
    )
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not ChatModel.objects.exists()


def test_an_admin_enables_a_model_for_a_group(admin_client, ollama, team):
    response = admin_client.post(
        reverse("admin:catalog_chatmodel_add"),
        {
            "provider": ollama.pk, "model_id": "fake-model", "name": "llama", "display_name": "",
            "enabled": "on", "context_window": "8192", "max_output_tokens": "512",
            "default_temperature": "", "groups": [team.pk], "position": "0",
        },
    )  # fmt: skip
    assert response.status_code == 302, page(response)
    model = ChatModel.objects.get(name="llama")
    assert list(model.groups.all()) == [team]
    changelist = page(admin_client.get(reverse("admin:catalog_chatmodel_changelist")))
    assert "1 group, 0 users" in changelist


def test_the_provider_list_shows_the_environment_provider_without_its_key(admin_client, upstream):
    body = page(admin_client.get(reverse("admin:catalog_provider_changelist")))
    assert upstream.base_url in body
    assert "fake-model-2" in body
    assert "sk-test-secret-key-never-shown" not in body
