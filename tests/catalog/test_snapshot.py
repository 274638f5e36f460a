"""The catalog's in-memory copy: no query per chat, and never stale after a change."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import config, quotas, snapshot
from catalog.models import ChatModel, Quota

pytestmark = pytest.mark.django_db


def names(user):
    return [choice.name for choice in config.models_for(user)]


def test_a_warm_catalog_answers_without_a_query(alice, catalog_models):
    offered = names(alice)
    assert "gpt-4o" in offered  # granted to alice's group
    quotas.limits_for(alice)
    alice = type(alice).objects.get(pk=alice.pk)  # a new request's user
    with CaptureQueriesContext(connection) as queries:
        assert names(alice) == offered
        config.check_allowed(alice, "gpt-4o")
        config.resolve("gpt-4o")
        quotas.limits_for(alice)
    # Only the user's groups, read once: a grant names a group.
    assert len(queries) == 1, [q["sql"] for q in queries]


def test_without_group_grants_not_even_the_groups_are_read(alice, ollama):
    ChatModel.objects.create(provider=ollama, model_id="fake-model", name="llama")
    offered = names(alice)
    with CaptureQueriesContext(connection) as queries:
        assert names(alice) == offered
        quotas.limits_for(alice)
    assert len(queries) == 0


def test_an_admin_change_to_a_model_is_seen_by_the_next_request(alice, catalog_models):
    assert "llama" in names(alice)
    llama = catalog_models["llama"]
    llama.enabled = False
    llama.save()
    assert "llama" not in names(alice)
    with pytest.raises(config.ModelUnavailable):
        config.resolve("llama")
    llama.enabled = True
    llama.context_window = 2048
    llama.save()
    assert config.resolve("llama").context_window == 2048


def test_a_provider_change_is_seen_by_the_next_request(alice, catalog_models, ollama):
    assert config.resolve("llama").config.timeout_s == 5
    ollama.timeout_seconds = 9
    ollama.save()
    assert config.resolve("llama").config.timeout_s == 9
    ollama.delete()
    assert "llama" not in names(alice)


def test_grants_added_and_removed_are_seen_at_once(alice, bob, catalog_models):
    llama = catalog_models["llama"]
    assert "llama" in names(bob)
    llama.users.add(alice)
    assert "llama" not in names(bob)
    assert "llama" in names(alice)
    llama.users.clear()
    assert "llama" in names(bob)


def test_a_quota_change_is_seen_by_the_next_request(alice):
    assert quotas.limits_for(alice).tokens_per_day == 0
    quota = Quota.objects.create(user=alice, tokens_per_day=100)
    assert quotas.limits_for(alice).tokens_per_day == 100
    quota.tokens_per_day = 50
    quota.save()
    assert quotas.limits_for(alice).tokens_per_day == 50
    quota.delete()
    assert quotas.limits_for(alice).tokens_per_day == 0


def test_another_instance_sees_a_change_within_the_recheck_interval(
    alice, catalog_models, settings
):
    """Another process changed the catalog: it wrote a new version in the shared cache.

    Simulated here by changing the database without a signal and writing the version."""
    assert "llama" in names(alice)
    ChatModel.objects.filter(name="llama").update(enabled=False)  # no signal: not this process
    settings.CATALOG_RECHECK_SECONDS = 3600
    caches["catalog"].set(snapshot.VERSION_KEY, "from-another-instance", timeout=None)
    assert "llama" in names(alice)  # checked less than CATALOG_RECHECK_SECONDS ago
    settings.CATALOG_RECHECK_SECONDS = 0
    assert "llama" not in names(alice)
