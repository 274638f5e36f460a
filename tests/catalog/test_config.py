"""The catalog: which models a user may use, and how each is reached."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import translation

from catalog import config, crypto
from catalog.models import ChatModel, Provider, SiteSettings
from tests.catalog.conftest import CANARY_KEY

pytestmark = pytest.mark.django_db


def names(user):
    return [choice.name for choice in config.models_for(user)]


def test_a_fresh_install_offers_the_environments_models_to_everyone(alice, upstream):
    assert names(alice) == ["fake-model", "fake-model-2"]
    resolved = config.resolve("fake-model")
    assert resolved.provider == config.ENV_PROVIDER
    assert resolved.config.base_url == upstream.base_url
    assert resolved.config.api_key == "sk-test-secret-key-never-shown"
    assert resolved.config.timeout_s == 5


def test_without_an_environment_provider_only_admin_models_are_offered(alice, settings, ollama):
    settings.OPENAI_API_BASE_URL = ""
    # A fresh install with nothing configured: the answer will say what to set.
    assert names(alice) == ["fake-model", "fake-model-2"]
    assert not config.is_configured()
    with pytest.raises(config.ModelUnavailable) as info:
        config.resolve("fake-model")
    assert info.value.code == "not_configured"
    ChatModel.objects.create(provider=ollama, model_id="fake-model", name="llama")
    assert names(alice) == ["llama"]
    assert config.is_configured()


def test_models_granted_to_a_group_are_only_for_its_members(alice, bob, catalog_models):
    assert "gpt-4o" in names(alice)
    assert "gpt-4o" not in names(bob)
    assert names(bob)[0] == "gpt-4o-mini"  # the site default comes first


def test_a_model_granted_to_a_user_is_for_that_user_only(alice, bob, catalog_models):
    llama = catalog_models["llama"]
    llama.users.add(bob)
    assert "llama" in names(bob)
    assert "llama" not in names(alice)


def test_disabled_models_and_providers_are_not_offered(alice, catalog_models, openai):
    catalog_models["llama"].enabled = False
    catalog_models["llama"].save()
    assert "llama" not in names(alice)
    openai.enabled = False
    openai.save()
    assert [n for n in names(alice) if n.startswith("gpt")] == []
    with pytest.raises(config.ModelUnavailable) as info:
        config.resolve("gpt-4o")
    assert info.value.code == "model_unavailable"


def test_a_database_model_replaces_the_environment_model_of_the_same_name(
    alice, bob, upstream, ollama, team
):
    restricted = ChatModel.objects.create(provider=ollama, model_id="fake-model", name="fake-model")
    restricted.groups.add(team)
    assert names(bob) == ["fake-model-2"]
    assert "fake-model" in names(alice)
    assert config.resolve("fake-model").provider == "ollama"


def test_check_allowed_refuses_a_model_not_granted(bob, catalog_models):
    with pytest.raises(config.ModelUnavailable) as info:
        config.check_allowed(bob, "gpt-4o")
    assert info.value.code == "unknown_model"
    assert config.check_allowed(bob, "llama") == "llama"


def test_default_for_keeps_an_allowed_preference_else_the_site_default(bob, catalog_models):
    assert config.default_for(bob, "llama") == "llama"
    assert config.default_for(bob, "gpt-4o") == "gpt-4o-mini"
    assert config.default_for(bob) == "gpt-4o-mini"


def test_resolve_gives_the_providers_decrypted_key_headers_and_the_models_limits(
    catalog_models, openai
):
    resolved = config.resolve("gpt-4o")
    assert resolved.model_id == "gpt-4o"
    assert resolved.config.api_key == CANARY_KEY
    assert resolved.config.headers == (("OpenAI-Organization", "org-test"),)
    assert resolved.input_budget == 128000 - 4096
    assert resolved.temperature == 0.3
    assert resolved.title_model_id == "gpt-4o-mini"
    assert CANARY_KEY not in repr(resolved)


def test_the_key_is_stored_encrypted(openai):
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key_encrypted FROM catalog_provider WHERE id = %s", [openai.pk])
        (stored,) = cursor.fetchone()
    assert stored
    assert CANARY_KEY not in stored
    assert crypto.decrypt(stored) == CANARY_KEY


def test_a_changed_secret_makes_the_stored_key_unreadable_with_a_clear_error(
    openai, catalog_models, settings
):
    settings.PROVIDER_KEY_SECRET = "another secret"
    with pytest.raises(config.ModelUnavailable) as info:
        config.resolve("gpt-4o")
    assert info.value.code == "provider_key_unreadable"
    assert "Enter the key again" in info.value.message


def test_provider_validation_rejects_bad_urls_and_headers():
    from django.core.exceptions import ValidationError

    for url in ["localhost:11434", "ftp://x/v1", "http://user:pw@host/v1", "http://h/v1?x=1"]:
        with pytest.raises(ValidationError):
            Provider(name="x", base_url=url).full_clean()
    for headers in [["a"], {"Authorization": "x"}, {"X-A": "1\r\nX-B: 2"}, {"bad name": "x"}]:
        with pytest.raises(ValidationError):
            Provider(name="x", base_url="http://h/v1", extra_headers=headers).full_clean()
    provider = Provider(name="x", base_url="http://localhost:11434")
    provider.full_clean()
    assert provider.base_url == "http://localhost:11434/v1"


def test_a_model_must_leave_room_for_the_prompt(ollama):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        ChatModel(provider=ollama, model_id="m", name="m", context_window=1000,
                  max_output_tokens=1000).full_clean()  # fmt: skip


def test_adding_a_provider_never_moves_the_default_by_itself(alice, upstream, ollama):
    """Without an explicit site default the first .env model stays the default when an
    admin adds a provider and its models (it became the first admin model before)."""
    assert config.default_for(alice) == "fake-model"
    ChatModel.objects.create(provider=ollama, model_id="fake-model", name="llama")
    assert names(alice)[0] == "llama"  # the picker lists admin models first
    assert config.default_for(alice) == "fake-model"
    SiteSettings.objects.create(default_model="llama")  # the admin's explicit choice moves it
    assert config.default_for(alice) == "llama"
    assert config.default_for(alice, "fake-model-2") == "fake-model-2"  # a saved preference


def test_removing_a_provider_never_moves_the_default_to_another_admin_model(
    alice, upstream, ollama, openai
):
    """The admin's site default goes with its provider; then the first .env model is the
    default again, never the next admin model in the picker's order."""
    ChatModel.objects.create(provider=ollama, model_id="fake-model", name="llama")
    ChatModel.objects.create(provider=openai, model_id="gpt-4o", name="gpt-4o")
    SiteSettings.objects.create(default_model="gpt-4o")
    assert config.default_for(alice) == "gpt-4o"
    ollama.delete()  # another provider goes: the choice stays
    assert config.default_for(alice) == "gpt-4o"
    ChatModel.objects.create(provider=ollama.__class__.objects.create(
        name="vllm", base_url=upstream.base_url), model_id="m", name="vllm-m")  # fmt: skip
    openai.delete()  # the chosen one's provider goes
    assert names(alice)[0] == "vllm-m"
    assert config.default_for(alice) == "fake-model"


def test_a_saved_default_that_is_gone_is_said_with_what_replaces_it(alice, upstream, ollama):
    llama = ChatModel.objects.create(
        provider=ollama, model_id="fake-model", name="llama", display_name="Llama 3"
    )
    choices = config.models_for(alice)
    assert config.fallback_notice("llama", "llama", choices) == ""
    assert config.fallback_notice("", "fake-model", choices) == ""
    llama.enabled = False
    llama.save()
    choices = config.models_for(alice)
    used = config.default_for(alice, "llama", choices=choices)
    assert used == "fake-model"
    with translation.override("en"):
        assert config.fallback_notice("llama", used, choices) == (
            "Your default model llama is no longer available; using fake-model."
        )
        assert config.fallback_notice("llama", "", []) == (
            "Your default model llama is no longer available."
        )
