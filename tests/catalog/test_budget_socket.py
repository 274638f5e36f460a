"""A money budget over the socket: the composer's error frame says which budget and when
it resets, and nothing is written or sent upstream."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from catalog import usage
from catalog.models import Quota, UsageRecord
from conversations.models import Conversation, Message
from tests.conftest import frames_until, is_done
from tests.upstream import FakeUpstream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@sync_to_async
def price_llama(input_price: str, output_price: str) -> None:
    from catalog.models import ChatModel

    llama = ChatModel.objects.get(name="llama")
    llama.input_price, llama.output_price = Decimal(input_price), Decimal(output_price)
    llama.save()


async def test_an_answer_is_priced_then_the_site_budget_refuses_the_next(
    connect, alice, catalog_models, fake_upstream: FakeUpstream
):
    # 500,000 per million: each token costs 0.50, so the first answer spends the budget.
    await price_llama("500000", "500000")
    await Quota.objects.acreate(budget_per_month=Decimal("5.00"))
    conversation = await Conversation.objects.acreate(user=alice, title="t", model="llama")
    socket = await connect(alice, conversation.pk)
    await socket.send_json_to({"type": "send", "text": "[[fake tokens=3]] hi"})
    await frames_until(socket, is_done)
    answer_row = await UsageRecord.objects.filter(kind="answer").aget()
    assert answer_row.total_tokens >= 10
    assert answer_row.cost == Decimal(answer_row.total_tokens) / 2  # exactly
    sent = len(fake_upstream.chat_requests)
    messages = await Message.objects.acount()
    await socket.send_json_to({"type": "send", "text": "again"})
    error = (await frames_until(socket, lambda f: f["type"] == "error"))[-1]
    assert error["code"] == "budget_site"
    assert "the site's monthly budget of 5.00 USD a person" in error["message"]
    reset = usage.next_month()
    assert f"{reset:%B} {reset.day}, 00:00" in error["message"]
    assert len(fake_upstream.chat_requests) == sent
    assert await Message.objects.acount() == messages
