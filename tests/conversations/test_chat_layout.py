"""The chat page's layout for keyboards and screen readers (skip links, landmarks,
headings) and the model picker's context windows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from catalog.models import ChatModel, Provider
from conversations.models import Conversation
from conversations.templatetags.picker import context_size

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _back_to_english() -> Iterator[None]:
    """A request in Chinese leaves its language active in the thread (LocaleMiddleware
    activates, nothing deactivates): the next test must not see it."""
    yield
    translation.deactivate()


def _page(client: Client, path: str = "/") -> str:
    return str(client.get(path).content.decode())


@pytest.mark.parametrize("path", ["/", "conversation"])
def test_the_page_has_skip_links_landmarks_and_headings(alice_client, conversation, path):
    html = _page(alice_client, f"/c/{conversation.pk}/" if path == "conversation" else path)

    # The skip links come first in the body: to the composer, to the thread.
    body = html[html.index("<body") :]
    skips = re.findall(r'<a class="skip-link" href="([^"]+)"', body)
    assert skips == ["#composer-text", "#thread"]
    assert body.index("skip-link") < body.index('id="sidebar"')
    # Landmarks: a nav for the sidebar, main for the chat, a region for the composer.
    assert re.search(r'<nav class="sidebar" id="sidebar" aria-label="[^"]+"', html)
    assert re.search(r'<main class="main" id="chat"', html)
    assert re.search(
        r'<section class="thread" id="thread" tabindex="-1" aria-labelledby="thread-heading">', html
    )
    assert re.search(r'<section class="composer-wrap" aria-labelledby="composer-heading">', html)
    # Headings to jump by: the chat's title, then the chats, the conversation, the box.
    headings = re.findall(r'<h([12])[^>]*id="([^"]+)"', html)
    assert ("1", "chat-title") in headings
    for heading in ("conv-heading", "thread-heading", "composer-heading"):
        assert ("2", heading) in headings, heading
    assert "<aside" not in html


def test_the_picker_shows_the_environments_context_window_from_the_setting(alice_client, settings):
    settings.CONTEXT_TOKEN_BUDGET = 32768

    html = _page(alice_client)

    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)<', html)
    assert options == [
        ("fake-model", "fake-model · 32K context"),
        ("fake-model-2", "fake-model-2 · 32K context"),
    ]


def test_an_admin_model_shows_its_own_context_window(alice, alice_client, upstream, conversation):
    provider = Provider.objects.create(name="local", base_url=upstream.base_url)
    ChatModel.objects.create(
        provider=provider, model_id="big", name="big", display_name="Big one",
        context_window=128000, max_output_tokens=1000,
    )  # fmt: skip

    html = _page(alice_client, f"/c/{conversation.pk}/")

    assert re.search(r'<option value="big"[^>]*>Big one · 128K context<', html)


def test_the_context_window_is_translated(alice_client):
    html = str(alice_client.get("/", headers={"accept-language": "zh-Hans"}).content.decode())

    assert "fake-model · 4K 上下文" in html


@pytest.mark.parametrize(
    ("tokens", "shown"),
    [
        (512, "512"),
        (4000, "4K"),
        (4096, "4K"),
        (8192, "8K"),
        (131072, "128K"),
        (128000, "128K"),
        (200000, "200K"),
        (1048576, "1M"),
        (1_000_000, "1M"),
        (2_500_000, "2.5M"),
    ],
)
def test_context_sizes_read_as_models_are_announced(tokens, shown):
    assert context_size(tokens) == shown


def test_a_conversation_in_the_sidebar_does_not_change_the_landmarks(alice: Any, alice_client):
    Conversation.objects.create(user=alice, title="Hello", model="fake-model")

    html = _page(alice_client)

    assert html.count("<nav") == 1
    assert html.count("<main") == 1
