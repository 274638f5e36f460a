"""Thumbs up and down on answers (issue 20, item 10): the page's endpoint, the admin's
filter, and the export (and import) that carry them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from conversations import transfer
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(conversation, add_message) -> tuple[Message, Message]:
    question = add_message(conversation, "user", "Why is the sea salty?")
    answer = add_message(
        conversation, "assistant", "Rivers carry salts.", parent=question, model="fake-model"
    )
    return question, answer


def url(message: Message) -> str:
    return f"/c/{message.conversation_id}/messages/{message.pk}/rating/"


def rate(client: Client, message: Message, rating: Any) -> Any:
    return client.post(url(message), {"rating": rating})


def test_the_owner_rates_an_answer_up_then_down_then_takes_it_back(alice_client, answered):
    _, answer = answered

    response = rate(alice_client, answer, "up")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "rating": "up"}
    answer.refresh_from_db()
    assert answer.rating == "up"
    assert answer.rated_at is not None

    assert rate(alice_client, answer, "down").json()["rating"] == "down"
    answer.refresh_from_db()
    assert answer.rating == "down"

    assert rate(alice_client, answer, "").json() == {"ok": True, "rating": None}
    answer.refresh_from_db()
    assert answer.rating == ""
    assert answer.rated_at is None


def test_the_page_shows_the_rating_after_a_reload(alice_client, answered):
    _, answer = answered
    rate(alice_client, answer, "down")

    html = alice_client.get(f"/c/{answer.conversation_id}/").content.decode()

    assert 'data-rating="down" aria-pressed="true"' in html
    assert 'data-rating="up" aria-pressed="false"' in html


@pytest.mark.parametrize("bad", ["sideways", "UP", "1", "up "])
def test_a_bad_rating_is_refused_and_writes_nothing(alice_client, answered, bad):
    _, answer = answered
    rate(alice_client, answer, "up")

    response = rate(alice_client, answer, bad)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_rating"
    answer.refresh_from_db()
    assert answer.rating == "up"


def test_a_missing_rating_is_refused(alice_client, answered):
    _, answer = answered
    response = alice_client.post(url(answer), {})
    assert response.status_code == 400
    assert not Message.objects.exclude(rating="").exists()


def test_a_question_or_a_live_answer_cannot_be_rated(alice_client, answered):
    question, answer = answered
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.STREAMING)

    for message in (question, answer):
        response = rate(alice_client, message, "up")
        assert response.status_code == 409
        assert response.json()["code"] == "not_ratable"
    assert not Message.objects.exclude(rating="").exists()


def test_it_refuses_another_users_answer(client, bob, answered):
    _, answer = answered
    client.force_login(bob)

    assert rate(client, answer, "down").status_code == 404
    answer.refresh_from_db()
    assert answer.rating == ""


def test_a_message_of_another_conversation_is_not_found(alice_client, alice, answered):
    _, answer = answered
    other = Conversation.objects.create(user=alice, title="Other")

    response = alice_client.post(f"/c/{other.pk}/messages/{answer.pk}/rating/", {"rating": "up"})

    assert response.status_code == 404
    assert response.json()["code"] == "message_not_found"
    answer.refresh_from_db()
    assert answer.rating == ""


def test_a_visitor_is_sent_to_sign_in(client, answered):
    _, answer = answered
    response = rate(client, answer, "up")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_it_needs_a_post_with_the_csrf_token(alice, answered):
    _, answer = answered
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)

    assert strict.get(url(answer)).status_code == 405
    assert strict.post(url(answer), {"rating": "up"}).status_code == 403
    answer.refresh_from_db()
    assert answer.rating == ""

    strict.get(f"/c/{answer.conversation_id}/")
    token = strict.cookies["csrftoken"].value
    response = strict.post(url(answer), {"rating": "up"}, headers={"X-CSRFToken": token})
    assert response.status_code == 200


# --- The admin ----------------------------------------------------------------------------


@pytest.fixture
def rated(alice, bob, add_message) -> dict[str, Message]:
    """Answers of two models rated up, down and not at all."""
    found = {}
    for user, model, rating in [
        (alice, "model-a", "up"),
        (alice, "model-a", "down"),
        (bob, "model-b", "down"),
        (bob, "model-b", ""),
    ]:
        c = Conversation.objects.create(user=user, title=f"{model} {rating}")
        q = add_message(c, "user", "question")
        a = add_message(c, "assistant", f"answer {model} {rating or 'none'}", parent=q, model=model)
        if rating:
            a.rate(rating)
        found[f"{model}-{rating or 'none'}"] = a
    return found


def listed(admin_client: Client, **params: str) -> set[int]:
    response = admin_client.get("/admin/conversations/message/", params)
    assert response.status_code == 200
    return {m.pk for m in response.context["cl"].result_list}


def test_the_admin_finds_answers_rated_down_by_model(admin_client, rated):
    assert listed(admin_client, rated="down") == {
        rated["model-a-down"].pk,
        rated["model-b-down"].pk,
    }
    assert listed(admin_client, rated="down", model="model-b") == {rated["model-b-down"].pk}
    assert listed(admin_client, rated="up") == {rated["model-a-up"].pk}
    assert listed(admin_client, rated="none") == {rated["model-b-none"].pk}
    assert len(listed(admin_client, rated="any")) == 3


def test_the_admin_filters_by_when_rated_and_shows_the_filter(admin_client, rated):
    response = admin_client.get("/admin/conversations/message/", {"rated_at__isnull": "False"})
    assert {m.pk for m in response.context["cl"].result_list} == {
        rated["model-a-up"].pk,
        rated["model-a-down"].pk,
        rated["model-b-down"].pk,
    }
    page = admin_client.get("/admin/conversations/message/").content.decode()
    assert "Rated down" in page
    assert "?rated=down" in page


# --- Export and import --------------------------------------------------------------------


def test_the_export_carries_each_answers_rating_and_the_import_keeps_it(alice, bob, answered):
    _, answer = answered
    answer.rate("down")

    document = transfer.export_user(user=alice)
    messages = document["conversations"][0]["messages"]
    assert [m["rating"] for m in messages] == [None, "down"]

    transfer.import_file(user=bob, raw=json.dumps(document).encode())
    copy = Message.objects.get(conversation__user=bob, role="assistant")
    assert copy.rating == "down"
    assert copy.rated_at is not None
