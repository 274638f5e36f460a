"""Each user's settings (issue 10) meeting the catalog (issue 9): the default model is
chosen among the models the user may use, a provider added in the admin counts as
configured, and the user's sampling settings combine with the model's parameters."""

from __future__ import annotations

import re

import pytest
from django.test import AsyncClient

from accounts.models import UserSettings
from conversations.models import Conversation
from streaming.registry import registry
from tests.conftest import frames_until, is_done
from tests.upstream import FakeUpstream

SETTINGS_FORM = {
    "display_name": "",
    "theme": "system",
    "language": "en",
    "system_prompt": "",
    "temperature": "",
    "top_p": "",
    "send_key": "enter",
}


def _default_model_options(html: str) -> list[str]:
    select = re.search(r'<select name="default_model".*?</select>', html, re.S)
    assert select is not None
    return re.findall(r'<option value="([^"]*)"', select.group(0))


@pytest.mark.django_db
def test_the_default_model_setting_offers_only_models_the_user_may_use(
    client, alice, bob, catalog_models, settings
):
    settings.OPENAI_API_BASE_URL = ""
    client.force_login(bob)  # Not in the team: gpt-4o is not his.
    assert sorted(_default_model_options(client.get("/settings/").text)) == [
        "",
        "gpt-4o-mini",
        "llama",
    ]
    response = client.post("/settings/", {**SETTINGS_FORM, "default_model": "gpt-4o"})
    assert response.status_code == 400
    assert not UserSettings.objects.filter(user=bob).exists()

    client.force_login(alice)  # In the team.
    assert "gpt-4o" in _default_model_options(client.get("/settings/").text)
    response = client.post("/settings/", {**SETTINGS_FORM, "default_model": "gpt-4o"})
    assert response.status_code == 302
    assert UserSettings.objects.get(user=alice).default_model == "gpt-4o"


@pytest.mark.django_db
def test_a_default_model_no_longer_granted_is_not_used(bob, client, catalog_models, settings):
    settings.OPENAI_API_BASE_URL = ""
    UserSettings.objects.create(user=bob, default_model="gpt-4o")  # Granted once, not now.
    client.force_login(bob)
    html = client.get("/").text
    assert '<option value="gpt-4o"' not in html
    assert '<option value="gpt-4o-mini" selected>' in html  # the site default


@pytest.mark.django_db
def test_a_provider_added_in_the_admin_counts_as_configured(alice_client, catalog_models, settings):
    settings.OPENAI_API_BASE_URL = ""  # No provider in the environment.
    html = alice_client.get("/").text
    assert 'id="provider-hint"' not in html
    assert not re.search(r"<textarea id=\"composer-text\"[^>]* disabled", html)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_starting_a_chat_with_only_an_admin_provider_is_not_refused(
    alice, catalog_models, settings, fake_upstream: FakeUpstream, live
):
    settings.OPENAI_API_BASE_URL = ""
    client = AsyncClient()
    await client.aforce_login(alice)

    response = await client.post("/c/new/", {"text": "[[fake tokens=1]] hi", "model": "llama"})
    for _, task in list(registry.running.values()):
        await task

    assert response.status_code == 302
    assert await Conversation.objects.filter(user=alice, model="llama").aexists()
    assert len(fake_upstream.chat_requests) == 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_users_temperature_overrides_the_models_but_not_its_output_budget(
    connect, alice, catalog_models, keyed_upstream: FakeUpstream
):
    # gpt-4o: max_output_tokens=4096, default_temperature=0.3 (set by the admin).
    await UserSettings.objects.acreate(user=alice, temperature=0.9, top_p=0.5)
    conversation = await Conversation.objects.acreate(user=alice, title="t", model="gpt-4o")
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=3]] hi"})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["status"] == "done", done

    (request,) = keyed_upstream.chat_requests
    assert request.body["model"] == "gpt-4o"
    assert request.body["temperature"] == 0.9
    assert request.body["top_p"] == 0.5
    assert request.body["max_tokens"] == 4096
