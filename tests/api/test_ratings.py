"""An answer's thumbs over /api/v1: PUT …/messages/{id}/rating, shown in the messages
list; the owner only, the write scope only, a bad value writes nothing."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message
from tests.api.conftest import token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@sync_to_async
def answered(user) -> tuple[Conversation, Message]:
    conversation = Conversation.objects.create(user=user, title="Salt", model="fake-model")
    question = Message.objects.create(conversation=conversation, role="user", content="Why?")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", content="Rivers.", parent=question
    )
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=answer)
    return conversation, answer


def path(conversation: Conversation, message: Message) -> str:
    return f"/conversations/{conversation.pk}/messages/{message.pk}/rating"


async def test_the_owner_rates_and_the_messages_show_it(alice, alice_api):
    conversation, answer = await answered(alice)

    response = await alice_api.send("put", path(conversation, answer), {"rating": "up"})
    assert response.status_code == 200
    assert response.json()["rating"] == "up"
    listed = await alice_api.get(f"/conversations/{conversation.pk}/messages")
    assert [m["rating"] for m in listed.json()["data"]] == [None, "up"]

    response = await alice_api.send("put", path(conversation, answer), {"rating": None})
    assert response.json()["rating"] is None
    assert (await Message.objects.aget(pk=answer.pk)).rating == ""


async def test_a_bad_rating_is_refused_and_writes_nothing(alice, alice_api):
    conversation, answer = await answered(alice)
    await alice_api.send("put", path(conversation, answer), {"rating": "down"})

    response = await alice_api.send("put", path(conversation, answer), {"rating": "meh"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_rating"
    assert (await Message.objects.aget(pk=answer.pk)).rating == "down"


async def test_another_users_answer_is_not_found(alice, bob_api):
    conversation, answer = await answered(alice)

    response = await bob_api.send("put", path(conversation, answer), {"rating": "down"})

    assert response.status_code == 404
    assert (await Message.objects.aget(pk=answer.pk)).rating == ""


async def test_a_token_that_only_reads_is_refused(alice):
    conversation, answer = await answered(alice)
    reader = await token_for(alice, ["conversations:read"])

    response = await reader.send("put", path(conversation, answer), {"rating": "up"})

    assert response.status_code == 403
    assert (await Message.objects.aget(pk=answer.pk)).rating == ""
