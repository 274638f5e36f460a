"""Money budgets on both APIs: the conversation API and /v1 refuse with the budget's code
(OpenAI's insufficient_quota), say when it resets, and send nothing upstream."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from django.contrib.auth.models import Group

from catalog import usage
from catalog.models import Quota, UsageRecord
from conversations.models import Message
from tests.api.conftest import token_for
from tests.api.v1_server import V1Server
from tests.upstream import FakeUpstream


async def spent(user, amount: str) -> None:
    await UsageRecord.objects.acreate(
        user=user, username=user.username, provider="environment", model="fake-model",
        kind="answer", outcome="done", cost=Decimal(amount),
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_conversation_api_refuses_over_the_groups_budget(
    live, alice, conversation, upstream: FakeUpstream
):
    group = await Group.objects.acreate(name="team")
    await alice.groups.aadd(group)
    await Quota.objects.acreate(group=group, budget_per_month=Decimal("2.00"))
    await spent(alice, "2.00")
    api = await token_for(alice, ["chat"])
    refused = await api.post(f"/conversations/{conversation.pk}/messages", {"text": "hi"})
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["code"], error["type"]) == ("budget_group", "insufficient_quota")
    assert "your group's monthly budget of 2.00 USD" in error["message"]
    reset = usage.next_month()
    assert f"{reset:%B} {reset.day}, 00:00" in error["message"]
    assert refused["x-should-retry"] == "false"
    assert upstream.chat_requests == []
    assert not await Message.objects.aexists()


@pytest.mark.slow
def test_v1_refuses_over_the_users_budget_before_calling_the_model(v1: V1Server):
    # gina's own budget is 0.50 a month, and her ledger already holds 0.50 this month.
    sent = len(v1.upstream.chat_requests)
    refused = httpx.post(
        v1.base_url + "/chat/completions",
        headers={"Authorization": f"Bearer {v1.secret('gina')}"},
        content=json.dumps(
            {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        ),
        timeout=20,
    )
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["code"], error["type"]) == ("budget_user", "insufficient_quota")
    assert "your monthly budget of 0.50 USD" in error["message"]
    assert int(refused.headers["Retry-After"]) > 0
    assert len(v1.upstream.chat_requests) == sent
