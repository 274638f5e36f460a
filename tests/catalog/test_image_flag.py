"""The catalog's "accepts images" flag (#21): set in the admin, filled by Test connection
where the provider says so, and read by the chat through catalog.config."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from catalog import config, probe
from catalog.models import ChatModel, Provider
from tests.test_settings import read_settings

pytestmark = pytest.mark.django_db


def test_test_connection_marks_the_models_the_provider_says_read_images(
    admin_client, ollama: Provider, fake_upstream
):
    vision = ChatModel.objects.create(provider=ollama, model_id="gpt-4o", name="vision")
    text = ChatModel.objects.create(provider=ollama, model_id="gpt-4o-mini", name="text")
    response = admin_client.post(
        reverse("admin:catalog_provider_test_connection", args=[ollama.pk])
    )
    assert response.status_code == 302
    vision.refresh_from_db()
    text.refresh_from_db()
    assert (vision.accepts_images, text.accepts_images) == (True, False)
    assert config.accepts_images("vision") is True
    assert config.resolve("vision").accepts_images is True
    assert config.accepts_images("text") is False


def test_test_connection_leaves_the_admins_choice_where_the_provider_says_nothing(
    admin_client, ollama: Provider, fake_upstream
):
    chosen = ChatModel.objects.create(
        provider=ollama, model_id="fake-model", name="chosen", accepts_images=True
    )
    admin_client.post(reverse("admin:catalog_provider_test_connection", args=[ollama.pk]))
    chosen.refresh_from_db()
    assert chosen.accepts_images is True


@pytest.mark.parametrize(
    ("item", "takes"),
    [
        ({"id": "a", "architecture": {"input_modalities": ["text", "image"]}}, True),
        ({"id": "a", "architecture": {"input_modalities": ["text"]}}, False),
        ({"id": "a", "capabilities": ["completion", "vision"]}, True),
        ({"id": "a", "capabilities": ["completion"]}, False),
        ({"id": "a", "supports_vision": True}, True),
        ({"id": "a", "model_info": {"supports_vision": True}}, True),
        ({"id": "a", "model_info": {"supports_vision": "yes"}}, False),
        ({"id": "a"}, False),
    ],
)
def test_each_providers_way_of_saying_a_model_reads_images(item, takes):
    assert probe.takes_images(item) is takes


def test_the_admin_lists_filters_and_edits_the_flag(admin_client, ollama: Provider):
    row = ChatModel.objects.create(provider=ollama, model_id="m", name="m", accepts_images=True)
    listing = admin_client.get(reverse("admin:catalog_chatmodel_changelist"))
    assert "accepts_images__exact" in listing.content.decode()
    page = admin_client.get(reverse("admin:catalog_chatmodel_change", args=[row.pk]))
    assert 'name="accepts_images"' in page.content.decode()


def test_environment_models_read_images_when_listed(settings, alice, fake_upstream):
    settings.OPENAI_API_BASE_URL = fake_upstream.base_url
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model-2"})
    choices = {choice.name: choice.accepts_images for choice in config.models_for(alice)}
    assert choices == {"fake-model": False, "fake-model-2": True}
    assert config.accepts_images("fake-model-2") is True
    assert config.accepts_images("fake-model") is False
    assert config.resolve("fake-model-2").accepts_images is True


def test_models_added_from_the_test_connection_page_keep_what_the_provider_said(
    admin_client, ollama: Provider, fake_upstream
):
    listing = admin_client.post(
        reverse("admin:catalog_provider_changelist"),
        {"action": "test_connection", "_selected_action": [ollama.pk]},
    ).content.decode()
    assert listing.count('name="image_model_id"') == 1
    assert 'name="image_model_id" value="gpt-4o"' in listing
    admin_client.post(
        reverse("admin:catalog_provider_add_models"),
        {"provider": ollama.pk, "model_id": ["gpt-4o", "gpt-4o-mini"], "image_model_id": "gpt-4o"},
    )
    rows = ChatModel.objects.filter(provider=ollama)
    flags = dict(rows.values_list("model_id", "accepts_images"))
    assert flags == {"gpt-4o": True, "gpt-4o-mini": False}


def test_the_environments_image_models_are_read_from_a_comma_list(tmp_path):
    read = read_settings(
        tmp_path, OPENAI_API_MODEL="llava,llama3", OPENAI_API_IMAGE_MODELS=" llava ,"
    )
    images = read.OPENAI_API_IMAGE_MODELS
    assert images == {"llava"}


def test_an_image_model_the_environment_does_not_offer_fails_at_start(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="OPENAI_API_IMAGE_MODELS names models"):
        read_settings(tmp_path, OPENAI_API_MODEL="llama3", OPENAI_API_IMAGE_MODELS="llava")
