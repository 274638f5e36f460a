"""Token quotas hold during an answer, not only when it starts (docs/security.md): an
answer gets a budget (the quota left, less what the user's answers being written hold),
asks the model for no more, and is cut off when a server ignores that."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from catalog import usage
from catalog.models import Quota
from conversations.actions import ActionError
from conversations.models import Conversation, Message
from streaming import answers
from streaming.registry import registry
from tests.upstream import FakeUpstream, expected_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

# The most one answer may spend beyond its budget: the tokens of the piece that crossed it
# (a fake upstream's piece is "r0w123 ", three tokens at most).
OVERSHOOT = 3


def spend(user, total: int) -> None:
    usage.record(
        user_id=user.pk, username=user.username, provider="environment", model="fake-model",
        kind="answer", outcome="done", prompt_tokens=total - 8, completion_tokens=8,
        estimated=False,
    )  # fmt: skip


async def finished(answer_id: int) -> Message:
    entry = registry.running.get(answer_id)
    if entry is not None:
        await asyncio.wait_for(entry[1], 15)
    return await Message.objects.aget(pk=answer_id)


async def test_two_answers_started_together_stay_within_the_days_token_quota(
    live, alice, upstream: FakeUpstream
):
    await Quota.objects.acreate(tokens_per_day=200)  # the site's
    await sync_to_async(spend)(alice, 108)
    first = await Conversation.objects.acreate(user=alice, model="fake-model")
    second = await Conversation.objects.acreate(user=alice, model="fake-model")
    posted = await asyncio.gather(
        *(
            answers.post_message(
                user=alice, conversation_id=c.pk, text="[[fake tokens=500 delay=0.005]]"
            )
            for c in (first, second)
        ),
        return_exceptions=True,
    )
    started = [p for p in posted if isinstance(p, Message)]
    refused = [p for p in posted if isinstance(p, ActionError)]
    assert len(started) + len(refused) == 2
    # The first holds the whole budget while it streams: the second gets none.
    assert [r.code for r in refused] == ["quota_tokens_day"]
    ended = [await finished(a.pk) for a in started]
    assert [(m.status, m.error_code) for m in ended] == [("error", "quota_tokens_day")]
    assert ended[0].content
    assert expected_text(500).startswith(ended[0].content)
    spent = await sync_to_async(usage.tokens_since)(alice.pk, usage.day_start())
    assert 200 - OVERSHOOT <= spent <= 200 + OVERSHOOT


async def test_an_answer_asks_for_no_more_than_its_budget_and_stops_at_it(
    live, alice, conversation, upstream: FakeUpstream
):
    await Quota.objects.acreate(user=alice, tokens_per_day=150)
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=400 delay=0.005]]"
    )
    assert answer.token_cap == 150
    ended = await finished(answer.pk)
    assert (ended.status, ended.error_code) == ("error", "quota_tokens_day")
    assert "150 tokens per day" in ended.error
    assert ended.content
    assert expected_text(400).startswith(ended.content)
    request = upstream.chat_requests[-1]
    assert 0 < request.body["max_tokens"] < 150  # the budget less the prompt
    assert request.finished.wait(5)
    assert request.tokens_sent < 400  # cut off, not read to the end
    spent = await sync_to_async(usage.tokens_since)(alice.pk, usage.day_start())
    assert spent <= 150 + OVERSHOOT


async def test_a_budget_left_after_an_answer_ends_goes_to_the_next(
    live, alice, conversation, upstream: FakeUpstream
):
    await Quota.objects.acreate(user=alice, tokens_per_day=1000)
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=5]]"
    )
    ended = await finished(answer.pk)
    assert (ended.status, ended.content) == ("done", expected_text(5))
    spent = await sync_to_async(usage.tokens_since)(alice.pk, usage.day_start())
    second = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=5]]"
    )
    assert second.token_cap == 1000 - spent  # nothing is held once an answer ends
    await finished(second.pk)


async def test_without_a_token_quota_an_answer_has_no_budget(
    live, alice, conversation, upstream: FakeUpstream
):
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=5]]"
    )
    assert answer.token_cap is None
    await finished(answer.pk)
    assert "max_tokens" not in upstream.chat_requests[-1].body
