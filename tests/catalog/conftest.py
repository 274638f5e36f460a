"""Two real upstreams (the session's and a second on its own port), providers and models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group

from catalog import clock
from catalog.models import ChatModel, Provider, SiteSettings
from tests.upstream import FakeUpstream

# The canary: if this string shows up in any page, frame, log line or export, a key leaked.
CANARY_KEY = "sk-canary-7f3a9c1e5b2d4086"


@pytest.fixture(scope="session")
def second_upstream() -> Iterator[FakeUpstream]:
    """Another OpenAI-compatible server on another port that insists on the canary key."""
    with FakeUpstream(api_key=CANARY_KEY) as server:
        yield server


@pytest.fixture
def keyed_upstream(second_upstream: FakeUpstream) -> FakeUpstream:
    second_upstream.reset()
    return second_upstream


@pytest.fixture
def ollama(fake_upstream: FakeUpstream) -> Provider:
    """An Ollama-style provider: no key."""
    return Provider.objects.create(
        name="ollama", base_url=fake_upstream.base_url, timeout_seconds=5
    )


@pytest.fixture
def openai(keyed_upstream: FakeUpstream) -> Provider:
    """An OpenAI-style provider: a key (the canary) and an extra header."""
    provider = Provider(
        name="openai",
        base_url=keyed_upstream.base_url,
        timeout_seconds=5,
        extra_headers={"OpenAI-Organization": "org-test"},
        title_model="gpt-4o-mini",
    )
    provider.set_api_key(CANARY_KEY)
    provider.save()
    return provider


@pytest.fixture
def team(alice: Any) -> Group:
    group = Group.objects.create(name="team")
    alice.groups.add(group)
    return group


@pytest.fixture
def catalog_models(ollama: Provider, openai: Provider, team: Group) -> dict[str, ChatModel]:
    """llama (everyone), gpt-4o (the team only), gpt-4o-mini (everyone, site default)."""
    llama = ChatModel.objects.create(
        provider=ollama, model_id="fake-model", name="llama", display_name="Llama 3",
        context_window=4096, max_output_tokens=512,
    )  # fmt: skip
    big = ChatModel.objects.create(
        provider=openai, model_id="gpt-4o", name="gpt-4o", context_window=128000,
        max_output_tokens=4096, default_temperature=0.3,
    )  # fmt: skip
    big.groups.add(team)
    mini = ChatModel.objects.create(
        provider=openai, model_id="gpt-4o-mini", name="gpt-4o-mini", context_window=16000,
        max_output_tokens=1000,
    )  # fmt: skip
    SiteSettings.objects.create(default_model="gpt-4o-mini")
    return {"llama": llama, "gpt-4o": big, "gpt-4o-mini": mini}


@pytest.fixture
def frozen_clock() -> Iterator[clock.FrozenClock]:
    import datetime as dt

    with clock.frozen(dt.datetime(2026, 3, 14, 10, 30, tzinfo=dt.UTC)) as frozen:
        yield frozen
