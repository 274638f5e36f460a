"""A finished answer's thinking on the page: folded above the answer, escaped, timed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation

from conversations.models import Conversation

pytestmark = pytest.mark.django_db


def test_a_finished_answer_shows_its_thinking_folded_and_escaped(alice, alice_client, add_message):
    conversation = Conversation.objects.create(user=alice, title="T", model="r1")
    q = add_message(conversation, "user", "2+2?")
    add_message(
        conversation, "assistant", "It is 4.", parent=q, html="<p>It is 4.</p>",
        reasoning="<img src=x onerror=alert(1)> two and two", reasoning_seconds=11.6,
    )  # fmt: skip

    page = alice_client.get(f"/c/{conversation.pk}/").content.decode()

    start = page.index('<details class="thinking" data-thinking>')  # not open, not hidden
    block = page[start : page.index("</details>", start)]
    assert "Thought for 12 s" in block
    assert "&lt;img src=x onerror=alert(1)&gt; two and two" in block
    assert "<img src=x" not in page
    assert page.index("Thought for 12 s") < page.index("<p>It is 4.</p>")


def test_an_answer_without_thinking_has_the_block_hidden(alice, alice_client, add_message):
    conversation = Conversation.objects.create(user=alice, title="T", model="m")
    q = add_message(conversation, "user", "hi")
    add_message(conversation, "assistant", "Hello.", parent=q, html="<p>Hello.</p>")

    page = alice_client.get(f"/c/{conversation.pk}/").content.decode()

    assert '<details class="thinking" data-thinking>' not in page
    assert '<details class="thinking" data-thinking hidden>' in page  # the template's copy


@pytest.fixture
def no_language_left_behind() -> Iterator[None]:
    """The locale middleware leaves the request's language active in the test's thread."""
    yield
    translation.deactivate()


def test_the_block_reads_in_chinese(alice, alice_client, add_message, no_language_left_behind):
    conversation = Conversation.objects.create(user=alice, title="T", model="r1")
    q = add_message(conversation, "user", "2+2?")
    add_message(conversation, "assistant", "4", parent=q, reasoning="hmm", reasoning_seconds=3.0)
    page = alice_client.get(
        f"/c/{conversation.pk}/", HTTP_ACCEPT_LANGUAGE="zh-Hans"
    ).content.decode()
    assert "已思考 3 秒" in page
