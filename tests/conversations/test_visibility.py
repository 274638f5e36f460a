"""Names that show nothing (issue 17, finding 5): a title or a display name made only of
characters that draw nothing is refused by Unicode property, not by a list, and nothing
is written."""

from __future__ import annotations

import json

import pytest

from accounts.models import UserSettings
from chatweb.visibility import is_blank
from conversations import actions, organise, prompts, transfer
from conversations.actions import ActionError
from conversations.models import Conversation, Prompt
from streaming.titles import clean_title

pytestmark = pytest.mark.django_db

# The probe (alone and repeated), then one of each other kind the rule covers.
PROBED = ["\u00ad", "\u180e", "\u3164", "\u2800", "\u034f", "\u202e"]
INVISIBLE = [
    *PROBED,
    *(c * 7 for c in PROBED),
    "".join(PROBED),
    "\u200b\u200c\u200d\u2060\ufeff",  # the five the old list knew
    "\u2028\u2029\u3000\u00a0",  # separators and spaces str.split() may or may not see
    "\u115f\u1160\uffa0",  # the other Hangul fillers
    "\u20dd\u0903",  # an enclosing and a spacing mark with nothing to sit on
    "\ufe0f\U000e0041\U000e007f",  # a variation selector, tag characters
    "\u2065\ufff0",  # reserved default-ignorable code points
    "\x07\x1b",  # control characters
]
VISIBLE = ["a", "e\u0301", "中文", "😀", "\u00ad-", "\u2800x", "\ue000", "1", "·"]


@pytest.mark.parametrize("text", INVISIBLE)
def test_invisible_text_is_blank(text):
    assert is_blank(text)


@pytest.mark.parametrize("text", VISIBLE)
def test_text_with_one_visible_character_is_not_blank(text):
    assert not is_blank(text)


@pytest.mark.parametrize("title", INVISIBLE)
def test_renaming_to_an_invisible_title_is_refused_and_writes_nothing(conversation, title):
    conversation.title = "Trip ideas"
    conversation.save(update_fields=["title"])

    with pytest.raises(ActionError) as caught:
        organise.rename(conversation=conversation, title=title)

    assert caught.value.code == "empty_title"
    conversation.refresh_from_db()
    assert conversation.title == "Trip ideas"


@pytest.mark.parametrize("title", PROBED)
def test_the_rename_page_says_why(alice_client, conversation, title):
    response = alice_client.post(f"/c/{conversation.pk}/rename/", {"title": title * 3}, follow=True)
    conversation.refresh_from_db()
    assert conversation.title == "New chat"
    assert "A title cannot be empty." in response.text


def test_a_visible_title_with_invisible_characters_is_kept(conversation):
    organise.rename(conversation=conversation, title="\u00adTrip\u200b ideas")
    conversation.refresh_from_db()
    assert conversation.title == "\u00adTrip\u200b ideas"


@pytest.mark.parametrize("text", PROBED)
def test_an_invisible_first_message_does_not_become_the_title(alice, text):
    answer = actions.start_conversation(user=alice, text=text * 3)
    assert answer.conversation.title == "New chat"


@pytest.mark.parametrize("raw", ["\u3164", '"\u2800"', "Title: \u202e\u034f"])
def test_an_invisible_title_from_the_model_is_not_used(raw):
    assert clean_title(raw) == ""


def test_an_imported_invisible_title_becomes_the_default(alice):
    document = {
        "format": "chatweb-export",
        "version": 1,
        "conversations": [{"title": "\u3164\u2800", "messages": []}],
    }
    (imported,) = transfer.import_file(user=alice, raw=json.dumps(document).encode())
    assert imported.title == "Imported chat"


@pytest.mark.parametrize("title", PROBED)
def test_an_invisible_prompt_title_is_refused(alice, title):
    with pytest.raises(ActionError) as caught:
        prompts.add(user=alice, title=title, text="Translate into French:")
    assert caught.value.code == "prompt_title"
    assert not Prompt.objects.exists()


@pytest.mark.parametrize("name", PROBED)
def test_an_invisible_display_name_is_refused_with_a_clear_error(alice_client, alice, name):
    UserSettings.objects.update_or_create(user=alice, defaults={"display_name": "Alice"})
    response = alice_client.post(
        "/settings/", {"display_name": name * 2, "theme": "system", "send_key": "enter"}
    )

    assert response.status_code == 400
    assert "Use at least one visible character" in response.text
    assert UserSettings.objects.get(user=alice).display_name == "Alice"


def test_an_empty_display_name_still_means_the_username(alice_client, alice):
    response = alice_client.post(
        "/settings/", {"display_name": "", "theme": "system", "send_key": "enter"}
    )
    assert response.status_code == 302
    assert UserSettings.objects.get(user=alice).display_name == ""
    assert Conversation.objects.count() == 0
