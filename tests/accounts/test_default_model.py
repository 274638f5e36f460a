"""A user's saved default model that they may no longer use falls back visibly: the chat's
model picker and the settings page say which model is used instead."""

from __future__ import annotations

import pytest
from django.utils import translation

from accounts.models import UserSettings
from catalog.models import ChatModel, Provider

pytestmark = pytest.mark.django_db

NOTICE = "Your default model llama is no longer available; using fake-model."


@pytest.fixture
def llama(alice, upstream) -> ChatModel:
    provider = Provider.objects.create(name="ollama", base_url=upstream.base_url)
    model = ChatModel.objects.create(provider=provider, model_id="fake-model", name="llama")
    UserSettings.objects.update_or_create(user=alice, defaults={"default_model": "llama"})
    return model


def test_an_allowed_default_is_used_without_a_notice(alice_client, llama):
    home = alice_client.get("/").text
    assert '<option value="llama" selected>' in home
    assert "default-model-notice" not in home
    assert "default-model-notice" not in alice_client.get("/settings/").text


def test_a_removed_default_is_said_in_the_chats_model_picker(alice_client, llama):
    llama.provider.delete()
    home = alice_client.get("/").text
    assert '<option value="fake-model" selected>' in home
    notice = home[home.index('id="default-model-notice"') :]
    assert notice.startswith(f'id="default-model-notice" role="status">{NOTICE}</p>')
    # In the composer's tools, beside the picker it explains.
    assert home.index('id="model-select"') < home.index("default-model-notice")


def test_a_disabled_default_is_said_on_the_settings_page(alice_client, llama):
    llama.enabled = False
    llama.save()
    # The request activates Chinese in this thread; override() puts English back after.
    with translation.override("en"):
        page = alice_client.get("/settings/").text
    assert f'role="status">{NOTICE}</p>' in page
    assert page.index("default-model-notice") < page.index('id="id_default_model"')


def test_a_conversations_own_model_is_not_reported_as_the_default(alice_client, alice, llama):
    from conversations.models import Conversation

    chat = Conversation.objects.create(user=alice, title="t", model="fake-model-2")
    llama.provider.delete()
    page = alice_client.get(f"/c/{chat.pk}/").text
    assert '<option value="fake-model-2" selected>' in page
    assert "default-model-notice" not in page


def test_the_notice_is_in_chinese_for_a_chinese_reader(alice_client, alice, llama):
    UserSettings.objects.filter(user=alice).update(language="zh-hans")
    llama.provider.delete()
    page = alice_client.get("/settings/").text
    assert "你的默认模型 llama 已不可用，改用 fake-model。" in page  # noqa: RUF001
