"""A project's instructions in the upstream request (#22, item 1): after the site's prompt
and the owner's custom instructions, before the conversation's own prompt, checked on the
exact request body the real fake upstream recorded."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Project
from tests.streaming.test_instructions import INSTRUCTIONS, QUESTION, instruct, sent_messages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PROJECT = "Instructions for the project “Garden”:\nAnswer with plant names in Latin."


@sync_to_async
def project(user: Any, instructions: str = "  Answer with plant names in Latin.\n") -> Project:
    return Project.objects.create(user=user, name="Garden", instructions=instructions)


async def test_the_order_site_instructions_project_conversation(connect, alice, upstream, settings):
    settings.SYSTEM_PROMPT = "Be brief."
    await instruct(alice)
    messages = await sent_messages(
        connect, alice, upstream, project=await project(alice), system_prompt="Talk like a pirate."
    )
    assert messages == [
        {
            "role": "system",
            "content": f"Be brief.\n\n{INSTRUCTIONS}\n\n{PROJECT}\n\nTalk like a pirate.",
        },
        {"role": "user", "content": QUESTION},
    ]


async def test_the_project_alone(connect, alice, upstream, settings):
    settings.SYSTEM_PROMPT = ""
    messages = await sent_messages(connect, alice, upstream, project=await project(alice))
    assert messages == [
        {"role": "system", "content": PROJECT},
        {"role": "user", "content": QUESTION},
    ]


async def test_the_project_stays_when_custom_instructions_are_off(
    connect, alice, upstream, settings
):
    settings.SYSTEM_PROMPT = "Be brief."
    await instruct(alice)
    messages = await sent_messages(
        connect, alice, upstream, project=await project(alice), instructions_enabled=False
    )
    assert messages == [
        {"role": "system", "content": f"Be brief.\n\n{PROJECT}"},
        {"role": "user", "content": QUESTION},
    ]


async def test_a_project_without_instructions_adds_nothing(connect, alice, upstream, settings):
    settings.SYSTEM_PROMPT = "Be brief."
    messages = await sent_messages(connect, alice, upstream, project=await project(alice, " "))
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]
