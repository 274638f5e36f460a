"""The site's default model is the admin's explicit choice, an admin model or a `.env` one
(catalog.models.SiteSettings, its admin page); without a usable choice it is the first
`.env` model. Adding, disabling or removing a provider or model never moves anyone's
default by itself (#20, item 4)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.models import UserSettings
from catalog import config, snapshot
from catalog.models import ChatModel, Provider, SiteSettings

pytestmark = pytest.mark.django_db

SETTINGS_URL = "/admin/catalog/sitesettings/1/change/"


def page(response) -> str:
    return str(response.content.decode())


@pytest.fixture
def llama(ollama: Provider) -> ChatModel:
    return ChatModel.objects.create(
        provider=ollama, model_id="fake-model", name="llama", display_name="Llama 3"
    )


@pytest.fixture
def admin_en(admin_client):
    # A request activates its language in this thread; English for the assertions.
    with translation.override("en"):
        yield admin_client


def choose(admin_client, name: str):
    return admin_client.post(SETTINGS_URL, {"default_model": name})


def selected(html: str) -> str:
    """The model the chat's picker has selected."""
    picker = html[html.index('id="model-select"') :]
    return picker.split("selected>")[0].rsplit('<option value="', 1)[1].split('"')[0]


def test_the_site_settings_are_one_page_that_offers_every_model_by_provider(
    admin_en, upstream, llama
):
    listing = admin_en.get(reverse("admin:catalog_sitesettings_changelist"))
    assert listing.status_code == 302
    assert listing["Location"] == SETTINGS_URL
    body = page(admin_en.get(SETTINGS_URL))
    assert not SiteSettings.objects.exists()  # reading the page writes nothing
    assert '<option value="" selected>None chosen: the first .env model (fake-model)' in body
    assert '<optgroup label=".env (OPENAI_API_MODEL)">' in body
    assert '<option value="fake-model-2">fake-model-2</option>' in body
    assert '<optgroup label="ollama">' in body
    assert '<option value="llama">Llama 3 (llama)</option>' in body
    assert "fake-model, the first .env model: none is chosen." in body
    # Nothing to add, delete or save-and-add-another: one row.
    assert "/admin/catalog/sitesettings/add/" not in body
    assert "/delete/" not in body
    assert 'name="_addanother"' not in body


def test_an_admin_chooses_a_env_model_and_new_chats_start_with_it(
    admin_en, alice, alice_client, upstream
):
    response = choose(admin_en, "fake-model-2")
    assert response.status_code == 302, page(response)
    assert SiteSettings.load().default_model == "fake-model-2"
    body = page(admin_en.get(SETTINGS_URL))
    assert "Saved. New conversations start with fake-model-2." in body
    assert "fake-model-2, as chosen." in body
    assert config.default_for(alice) == "fake-model-2"
    assert [c.name for c in config.models_for(alice)] == ["fake-model-2", "fake-model"]
    assert selected(alice_client.get("/").text) == "fake-model-2"


def test_an_admin_chooses_an_admin_model(admin_en, alice, upstream, llama):
    assert choose(admin_en, "llama").status_code == 302
    assert config.default_for(alice) == "llama"
    models = page(admin_en.get(reverse("admin:catalog_chatmodel_changelist")))
    assert 'class="field-site_default"><img src="/static/admin/img/icon-yes.svg"' in models
    providers = page(admin_en.get(reverse("admin:catalog_provider_changelist")))
    assert "New conversations start with <code>llama</code>" in providers
    assert f'href="{SETTINGS_URL}"' in providers


@pytest.mark.parametrize("name", ["not-a-model", "llama"])
def test_a_model_that_cannot_be_used_is_refused_and_nothing_is_written(
    admin_en, upstream, llama, name
):
    llama.enabled = False
    llama.save()
    response = choose(admin_en, name)
    assert response.status_code == 200
    assert "errorlist" in page(response)
    assert not SiteSettings.objects.exists()


def test_a_chosen_model_that_is_disabled_falls_back_and_the_page_says_so(
    admin_en, alice, upstream, llama
):
    choose(admin_en, "llama")
    llama.provider.enabled = False
    llama.provider.save()
    assert config.default_for(alice) == "fake-model"
    body = page(admin_en.get(SETTINGS_URL))
    warning = (
        "The chosen default model llama is disabled or was removed, so new conversations "
        "start with fake-model until you choose another."
    )
    assert f'<li class="warning">{warning}</li>' in body
    assert '<option value="llama" selected>llama (no longer available)</option>' in body
    # The choice stays: the model back, the default is back.
    llama.provider.enabled = True
    llama.provider.save()
    assert config.default_for(alice) == "llama"
    llama.delete()
    assert config.default_for(alice) == "fake-model"
    assert SiteSettings.load().default_model == "llama"


def test_without_a_choice_adding_disabling_or_removing_never_moves_the_default(
    alice, upstream, ollama, openai
):
    assert config.default_for(alice) == "fake-model"
    llama = ChatModel.objects.create(provider=ollama, model_id="fake-model", name="llama")
    ChatModel.objects.create(provider=openai, model_id="gpt-4o", name="gpt-4o", position=0)
    assert config.default_for(alice) == "fake-model"
    llama.enabled = False
    llama.save()
    openai.enabled = False
    openai.save()
    assert config.default_for(alice) == "fake-model"
    ollama.delete()
    assert config.default_for(alice) == "fake-model"


def test_with_a_choice_only_losing_the_chosen_one_moves_it_and_only_to_the_env_model(
    alice, upstream, ollama, openai
):
    llama = ChatModel.objects.create(provider=ollama, model_id="fake-model", name="llama")
    ChatModel.objects.create(provider=openai, model_id="gpt-4o", name="gpt-4o")
    SiteSettings.objects.create(default_model="gpt-4o")
    assert config.default_for(alice) == "gpt-4o"
    llama.enabled = False
    llama.save()
    ollama.delete()
    Provider.objects.create(name="vllm", base_url=upstream.base_url)
    assert config.default_for(alice) == "gpt-4o"
    openai.enabled = False  # the chosen one's provider
    openai.save()
    assert config.default_for(alice) == "fake-model"


def test_a_chosen_model_not_open_to_a_user_gives_them_the_first_env_model(
    alice, bob, upstream, llama
):
    llama.users.add(alice)
    SiteSettings.objects.create(default_model="llama")
    assert config.default_for(alice) == "llama"
    assert config.default_for(bob) == "fake-model"


def test_a_user_without_a_saved_default_follows_the_site_default(
    alice, alice_client, upstream, llama
):
    settings_page = alice_client.get("/settings/").text
    with translation.override("en"):
        assert '<option value="" selected>The site&#x27;s default (fake-model)' in settings_page
    SiteSettings.objects.create(default_model="llama")
    assert selected(alice_client.get("/").text) == "llama"
    settings_page = alice_client.get("/settings/").text
    assert "The site&#x27;s default (Llama 3)" in settings_page
    assert "default-model-notice" not in settings_page


def test_a_saved_default_that_is_gone_falls_back_to_the_site_default_visibly(
    alice, alice_client, upstream, llama
):
    UserSettings.objects.create(user=alice, default_model="llama")
    SiteSettings.objects.create(default_model="fake-model-2")
    assert selected(alice_client.get("/").text) == "llama"
    llama.delete()
    home = alice_client.get("/").text
    assert selected(home) == "fake-model-2"
    notice = "Your default model llama is no longer available; using fake-model-2."
    assert f'id="default-model-notice" role="status">{notice}</p>' in home
    assert f'role="status">{notice}</p>' in alice_client.get("/settings/").text


def test_another_instance_sees_the_new_site_default(admin_en, alice, upstream, llama, settings):
    """Another instance holds its own copy of the catalog and learns of a change only
    through the shared "catalog" cache (Redis in production, a file with the embedded
    defaults): here, this process's copy from before the change is put back, as the
    other instance still holds it."""
    assert config.default_for(alice) == "fake-model"
    settings.CATALOG_RECHECK_SECONDS = 3600
    other = snapshot._held.version, snapshot._held.snapshot
    assert choose(admin_en, "llama").status_code == 302
    with snapshot._lock:
        snapshot._held.version, snapshot._held.snapshot = other
    assert config.default_for(alice) == "fake-model"  # not rechecked yet
    settings.CATALOG_RECHECK_SECONDS = 0
    assert config.default_for(alice) == "llama"


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_a_ticked_model_as_the_choice_and_back():
    """0005 moves the site default from ChatModel.is_default to SiteSettings; going back
    ticks it again."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("catalog", "0004_provider_last_check")], [("catalog", "0005_site_settings")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        provider = apps.get_model("catalog", "Provider").objects.create(
            name="p", base_url="http://127.0.0.1:9/v1"
        )
        models = apps.get_model("catalog", "ChatModel").objects
        models.create(provider=provider, model_id="a", name="a")
        models.create(provider=provider, model_id="b", name="b", is_default=True)
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        assert SiteSettings.load().default_model == "b"
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        apps = executor.loader.project_state(before).apps
        ticked = apps.get_model("catalog", "ChatModel").objects.filter(is_default=True)
        assert list(ticked.values_list("name", flat=True)) == ["b"]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
