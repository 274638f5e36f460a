"""The page of an open comparison (issue 22, item 5): the two answers in one group with
a "Choose this one" each, the "Compare with…" menu, and the plain thread once closed."""

from __future__ import annotations

import re

import pytest

from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def compared(alice, add_message) -> tuple[Conversation, Message, Message]:
    conversation = Conversation.objects.create(user=alice, model="fake-model")
    question = add_message(conversation, "user", "Which is better?")
    first = add_message(conversation, "assistant", "**One** answer", parent=question,
                        model="fake-model", html="<p><strong>One</strong> answer</p>")  # fmt: skip
    second = add_message(conversation, "assistant", "Another", parent=question,
                         model="fake-model-2", html="<p>Another</p>")  # fmt: skip
    conversation.compare_with = first
    conversation.save()
    return conversation, first, second


def test_an_open_comparison_shows_both_answers_each_with_choose(alice_client, compared):
    conversation, first, second = compared
    for url in (f"/c/{conversation.pk}/", f"/c/{conversation.pk}/thread/"):
        body = alice_client.get(url).content.decode()
        block = body[body.index("data-compare ") :]
        columns = re.findall(r'data-compare-col="(\d+)"', block)
        assert columns == [str(first.pk), str(second.pk)], "the older answer first"
        chooses = re.findall(r'data-action="choose" data-target-id="(\d+)"', block)
        assert chooses == columns
        assert "<strong>One</strong> answer" in block
        assert "fake-model-2" in block
        # Both are versions of the same answer: the branch switcher says 1/2 and 2/2.
        assert re.findall(r"data-branch-label>(\d/\d)<", block)[:2] == ["1/2", "2/2"]


def test_the_compare_menu_lists_the_users_models(alice_client, compared):
    conversation, _, _ = compared
    body = alice_client.get(f"/c/{conversation.pk}/").content.decode()
    menu = body[body.index('id="compare-menu"') :]
    menu = menu[: menu.index("</div>")]
    assert re.findall(r'data-model="([^"]+)"', menu) == ["fake-model", "fake-model-2"]
    assert 'data-action="compare"' in body


def test_a_closed_or_stale_comparison_shows_the_plain_thread(alice_client, compared):
    conversation, first, _ = compared
    conversation.compare_with = None
    conversation.save()
    assert "data-compare " not in alice_client.get(f"/c/{conversation.pk}/thread/").content.decode()
    # compare_with no longer a sibling of the path's last answer: no comparison shown.
    conversation.compare_with = first
    conversation.current_leaf = first.parent
    conversation.save()
    assert "data-compare " not in alice_client.get(f"/c/{conversation.pk}/thread/").content.decode()
