"""/api/v1 compare (issue 22, item 5): another model's answer beside one being written,
through the engine: both stream, each stops on its own, both are in the ledger."""

from __future__ import annotations

import pytest

from catalog.models import UsageRecord
from tests.api.test_answers import ended
from tests.upstream import FakeUpstream, expected_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_compare_starts_a_sibling_by_another_model_beside_a_streaming_answer(
    live, alice_api, conversation, upstream: FakeUpstream
):
    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "[[fake tokens=40 delay=0.01]]"}
    )
    first_id = posted.json()["message_id"]
    compared = await alice_api.post(
        f"/conversations/{conversation.pk}/messages/{first_id}/compare", {"model": "fake-model-2"}
    )
    assert compared.status_code == 202, compared.content
    second_id = compared.json()["message_id"]
    assert compared.json()["message"]["model"] == "fake-model-2"
    shown = (await alice_api.get(f"/conversations/{conversation.pk}")).json()
    assert (shown["current_leaf_id"], shown["compare_with_id"]) == (second_id, first_id)

    first, second = await ended(first_id), await ended(second_id)
    assert (first.content, second.content) == (expected_text(40), expected_text(40))
    assert first.parent_id == second.parent_id
    rows = [r async for r in UsageRecord.objects.filter(kind="answer").order_by("message_id")]
    assert [(r.message_id, r.model) for r in rows] == [
        (first_id, "fake-model"),
        (second_id, "fake-model-2"),
    ]


async def test_compare_refusals_write_nothing(live, alice_api, conversation, upstream):
    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "[[fake tokens=2]]"}
    )
    answer = await ended(posted.json()["message_id"])
    base = f"/conversations/{conversation.pk}/messages"
    for message_id, body, status, code in [
        (answer.parent_id, {"model": "fake-model-2"}, 400, "not_comparable"),
        (answer.pk, {"model": "nope"}, 400, "unknown_model"),
        (answer.pk, {}, 400, "invalid_request"),
    ]:
        refused = await alice_api.post(f"{base}/{message_id}/compare", body)
        assert refused.status_code == status, refused.content
        assert refused.json()["error"]["code"] == code
    assert len(upstream.chat_requests) == 1


async def test_stopping_one_answer_by_its_id_leaves_the_other_streaming(
    live, alice_api, conversation, upstream: FakeUpstream
):
    posted = await alice_api.post(
        f"/conversations/{conversation.pk}/messages", {"text": "[[fake tokens=200 delay=0.01]]"}
    )
    first_id = posted.json()["message_id"]
    compared = await alice_api.post(
        f"/conversations/{conversation.pk}/messages/{first_id}/compare", {"model": "fake-model-2"}
    )
    second_id = compared.json()["message_id"]
    stopped = await alice_api.post(f"/messages/{second_id}/stop")
    assert stopped.json() == {"message_id": second_id}
    assert (await ended(second_id)).status == "stopped"
    first = await ended(first_id)
    assert (first.status, first.content) == ("done", expected_text(200))
