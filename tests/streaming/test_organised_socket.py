"""An `organised` frame (a pin, an archive) reaches every socket of the owner through the
real asgi application, whatever conversation each socket is on, and no one else's."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from conversations import organise
from conversations.models import Conversation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_a_pin_reaches_the_owners_sockets_on_other_conversations_only(connect, alice, bob):
    pinned = await Conversation.objects.acreate(user=alice, title="Pinned one")
    elsewhere = await Conversation.objects.acreate(user=alice, title="Another tab")
    theirs = await Conversation.objects.acreate(user=bob, title="Bob's")
    mine = await connect(alice, elsewhere.pk)
    other_user = await connect(bob, theirs.pk)

    await sync_to_async(organise.set_pinned)(conversation=pinned, pinned="true")
    assert await mine.receive_json_from(timeout=5) == {
        "type": "organised",
        "conversation_id": pinned.pk,
        "pinned": True,
        "archived": False,
    }
    await sync_to_async(organise.set_archived)(conversation=pinned, archived="true")
    frame = await mine.receive_json_from(timeout=5)
    assert (frame["conversation_id"], frame["pinned"], frame["archived"]) == (
        pinned.pk,
        False,
        True,
    )
    assert await other_user.receive_nothing(timeout=0.3)
