"""The system message a real answer sends upstream (#22, item 4): the site's prompt, the
owner's custom instructions, the project's slot, the conversation's own prompt, in that
order, checked on the exact request body the real fake upstream recorded."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts.models import UserSettings
from conversations.models import Conversation
from tests.conftest import frames_until, is_done
from tests.upstream import FakeUpstream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

QUESTION = "[[fake tokens=2]] hello"
INSTRUCTIONS = (
    "The user's custom instructions.\n\n"
    "What the user wants you to know about them:\nI am a gardener in Lyon.\n\n"
    "How the user wants you to answer:\nShort, in French."
)


@sync_to_async
def instruct(user: Any) -> None:
    UserSettings.objects.create(
        user=user,
        instructions_about="  I am a gardener in Lyon. ",
        instructions_style="Short, in French.",
    )


@sync_to_async
def chat(user: Any, **fields: Any) -> Conversation:
    return Conversation.objects.create(user=user, title="New chat", model="fake-model", **fields)


async def sent_messages(connect: Any, user: Any, upstream: FakeUpstream, **fields: Any) -> Any:
    """The `messages` of the one request a new conversation's first answer sends."""
    conversation = await chat(user, **fields)
    socket = await connect(user, conversation.pk)
    await socket.send_json_to({"type": "send", "text": QUESTION})
    done = (await frames_until(socket, is_done))[-1]["message"]
    assert done["status"] == "done", done
    (request,) = upstream.chat_requests
    return request.body["messages"]


async def test_nothing_set_sends_no_system_message(connect, alice, upstream, settings):
    settings.SYSTEM_PROMPT = ""
    assert await sent_messages(connect, alice, upstream) == [{"role": "user", "content": QUESTION}]


async def test_the_site_prompt_alone(connect, alice, upstream, settings):
    settings.SYSTEM_PROMPT = "Be brief."
    assert await sent_messages(connect, alice, upstream) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]


async def test_the_site_prompt_then_the_custom_instructions(connect, alice, upstream, settings):
    settings.SYSTEM_PROMPT = "Be brief."
    await instruct(alice)
    assert await sent_messages(connect, alice, upstream) == [
        {"role": "system", "content": "Be brief.\n\n" + INSTRUCTIONS},
        {"role": "user", "content": QUESTION},
    ]


async def test_the_conversations_prompt_comes_last_and_no_longer_replaces_the_sites(
    connect, alice, upstream, settings
):
    settings.SYSTEM_PROMPT = "Be brief."
    await instruct(alice)
    messages = await sent_messages(connect, alice, upstream, system_prompt="Talk like a pirate.")
    assert messages == [
        {"role": "system", "content": f"Be brief.\n\n{INSTRUCTIONS}\n\nTalk like a pirate."},
        {"role": "user", "content": QUESTION},
    ]


async def test_instructions_switched_off_for_one_conversation(connect, alice, upstream, settings):
    settings.SYSTEM_PROMPT = "Be brief."
    await instruct(alice)
    messages = await sent_messages(
        connect, alice, upstream, instructions_enabled=False, system_prompt="Talk like a pirate."
    )
    assert messages == [
        {"role": "system", "content": "Be brief.\n\nTalk like a pirate."},
        {"role": "user", "content": QUESTION},
    ]
