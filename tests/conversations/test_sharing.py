"""Share by link: a snapshot readable without an account, never indexed, revocable."""

from __future__ import annotations

import pytest
from django.test import Client

from conversations import sharing
from conversations.actions import ActionError
from conversations.models import Conversation, SharedLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(alice, add_message):
    conversation = Conversation.objects.create(user=alice, title="Sharing <test>")
    q = add_message(conversation, "user", "What is **two** plus two?")
    add_message(conversation, "assistant", "Four.", parent=q, html="<p><strong>Four</strong>.</p>")
    return conversation


def _share(alice_client: Client, conversation: Conversation) -> str:
    response = alice_client.post(
        f"/c/{conversation.pk}/share/", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    data = response.json()
    assert data["url"].endswith(f"/s/{data['token']}/")
    return str(data["token"])


def test_the_link_is_readable_signed_out_and_not_indexed(alice_client, chat):
    token = _share(alice_client, chat)

    response = Client().get(f"/s/{token}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert "Sharing &lt;test&gt;" in page
    assert "What is **two** plus two?" in page  # the user's text, escaped as typed
    assert "<p><strong>Four</strong>.</p>" in page  # the stored sanitized HTML
    assert "Content-Security-Policy" in response


def test_the_token_is_long_and_random(alice_client, chat):
    tokens = {_share(alice_client, chat) for _ in range(3)}

    assert len(tokens) == 3
    assert all(len(t) >= 43 for t in tokens)


def test_later_messages_are_not_shown(alice_client, chat, add_message):
    token = _share(alice_client, chat)
    add_message(chat, "user", "A later secret question", parent=chat.current_leaf)

    page = Client().get(f"/s/{token}/").content.decode()

    assert "Four" in page
    assert "later secret" not in page


def test_an_answer_being_written_is_left_out(alice, chat, add_message):
    add_message(chat, "assistant", "half an ans", parent=chat.current_leaf, status="streaming")

    link = sharing.share_conversation(conversation=chat)

    assert [m.content for m in sharing.shared_messages(link=link)] == [
        "What is **two** plus two?",
        "Four.",
    ]


def test_an_empty_conversation_cannot_be_shared(alice):
    empty = Conversation.objects.create(user=alice)

    with pytest.raises(ActionError):
        sharing.share_conversation(conversation=empty)
    assert not SharedLink.objects.exists()


def test_revoking_makes_the_link_404(alice_client, chat):
    token = _share(alice_client, chat)

    response = alice_client.post(f"/shared/{token}/revoke/")

    assert response.status_code == 302
    assert Client().get(f"/s/{token}/").status_code == 404


def test_someone_else_can_neither_share_nor_revoke(alice_client, chat, bob):
    token = _share(alice_client, chat)
    bob_client = Client()
    bob_client.force_login(bob)

    assert bob_client.post(f"/c/{chat.pk}/share/").status_code == 404
    bob_client.post(f"/shared/{token}/revoke/")
    assert Client().get(f"/s/{token}/").status_code == 200
    assert "Sharing" not in bob_client.get("/shared/").content.decode()


def test_the_users_links_are_listed_with_revoke_buttons(alice_client, chat):
    token = _share(alice_client, chat)

    page = alice_client.get("/shared/").content.decode()

    assert f"/s/{token}/" in page
    assert f'action="/shared/{token}/revoke/"' in page


def test_an_unknown_token_is_404(client):
    assert client.get("/s/nope/").status_code == 404
    assert client.get("/s/" + "a" * 500 + "/").status_code == 404


def test_deleting_the_conversation_ends_its_links(alice_client, chat):
    token = _share(alice_client, chat)

    alice_client.post(f"/c/{chat.pk}/delete/")

    assert Client().get(f"/s/{token}/").status_code == 404


def test_the_shared_links_page_says_what_happened(alice_client, chat):
    created = alice_client.post(f"/c/{chat.pk}/share/", follow=True)
    token = SharedLink.objects.get().token

    revoked = alice_client.post(f"/shared/{token}/revoke/", follow=True)

    assert f"/s/{token}/" in created.content.decode()
    assert "Anyone with this link can read the conversation" in created.content.decode()
    assert "The link is revoked" in revoked.content.decode()
