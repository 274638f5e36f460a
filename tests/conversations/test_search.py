"""Search across a user's conversations: titles and messages, snippets, jump, isolation."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import search
from conversations.models import Conversation

pytestmark = pytest.mark.django_db


def _chat(user: Any, title: str, add_message: Any, *texts: str) -> Conversation:
    conversation = Conversation.objects.create(user=user, title=title)
    parent = None
    for i, text in enumerate(texts):
        parent = add_message(
            conversation, "user" if i % 2 == 0 else "assistant", text, parent=parent
        )
    return conversation


def test_finds_message_text_and_titles_with_the_hit_marked(alice, add_message):
    plants = _chat(alice, "Gardening notes", add_message, "How do I water orchids?", "Sparingly.")
    _chat(alice, "Orchid care", add_message, "Hello")
    _chat(alice, "Unrelated", add_message, "Nothing here")

    hits = search.search(user=alice, query="orchids")
    by_message = [h for h in hits if h.message_id is not None]

    assert [h.conversation_id for h in by_message] == [plants.pk]
    assert "<mark>orchids</mark>" in by_message[0].snippet_html
    assert (
        by_message[0].url
        == f"/c/{plants.pk}/?message={by_message[0].message_id}#message-{by_message[0].message_id}"
    )


def test_titles_match(alice, add_message):
    care = _chat(alice, "Orchid care", add_message, "Hello")

    hits = search.search(user=alice, query="orchid")

    assert [(h.conversation_id, h.message_id) for h in hits] == [(care.pk, None)]
    assert "<mark>" in hits[0].snippet_html


def test_only_the_users_own_conversations(alice, bob, add_message):
    _chat(bob, "Bob's secret orchid", add_message, "orchid secrets of bob")

    assert search.search(user=alice, query="orchid") == []
    assert len(search.search(user=bob, query="orchid")) == 2


def test_the_snippet_is_escaped_before_it_is_marked(alice, add_message):
    _chat(alice, "x", add_message, "<script>alert(1)</script> if a < b & orchid <b>bold</b>")

    (hit,) = [h for h in search.search(user=alice, query="orchid") if h.message_id]

    # PostgreSQL's headline drops tag-like words; SQLite keeps them. Either way nothing
    # but <mark> is markup.
    assert "<script>" not in hit.snippet_html
    assert "<b>" not in hit.snippet_html
    assert "a &lt; b &amp; " in hit.snippet_html
    assert "<mark>orchid</mark>" in hit.snippet_html


@pytest.mark.parametrize("query", ["", "   ", None, 42])
def test_an_empty_query_finds_nothing(alice, add_message, query):
    _chat(alice, "orchid", add_message, "orchid")

    assert search.search(user=alice, query=query) == []


def _queries_for_search(user: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        hits = search.search(user=user, query="orchid")
        [h.as_json() for h in hits]
    return len(ctx.captured_queries)


def test_the_query_count_does_not_grow_with_the_number_of_conversations(alice, add_message):
    _chat(alice, "orchid one", add_message, "an orchid", "another orchid")
    few = _queries_for_search(alice)
    for i in range(12):
        _chat(alice, f"orchid {i}", add_message, f"orchid question {i}", f"orchid answer {i}")

    many = _queries_for_search(alice)

    assert len(search.search(user=alice, query="orchid")) == search.MAX_RESULTS
    assert many == few <= 3  # titles, messages, attached documents


def test_the_search_endpoint_answers_json_and_a_page(alice_client, alice, add_message):
    _chat(alice, "Gardening", add_message, "orchid tips & tricks")

    data = alice_client.get(
        "/search/", {"q": "orchid"}, headers={"Accept": "application/json"}
    ).json()
    page = alice_client.get("/search/", {"q": "orchid"}).content.decode()

    assert data["query"] == "orchid"
    assert "<mark>orchid</mark>" in data["results"][0]["snippet_html"]
    assert "<mark>orchid</mark>" in page
    assert "tips &amp; tricks" in page


def test_search_needs_an_account(client):
    response = client.get("/search/", {"q": "x"})

    assert response.status_code == 302


def test_a_jump_to_a_message_on_another_branch_switches_to_it(alice, alice_client, add_message):
    conversation = Conversation.objects.create(user=alice, title="Branches")
    question = add_message(conversation, "user", "first question")
    old = add_message(conversation, "assistant", "the old orchid answer", parent=question)
    old_follow = add_message(conversation, "user", "follow-up on old", parent=old)
    add_message(conversation, "assistant", "the new answer", parent=question)

    response = alice_client.get(f"/c/{conversation.pk}/", {"message": old.pk})

    conversation.refresh_from_db()
    assert conversation.current_leaf_id == old_follow.pk
    assert f'id="message-{old.pk}"' in response.content.decode()


def test_a_jump_never_moves_someone_elses_conversation(alice, bob, add_message):
    theirs = Conversation.objects.create(user=bob, title="Bob")
    message = add_message(theirs, "user", "x")
    mine = Conversation.objects.create(user=alice, title="Mine")
    leaf = add_message(mine, "user", "y")

    assert search.focus_message(conversation=mine, message_id=message.pk) is False
    mine.refresh_from_db()
    assert mine.current_leaf_id == leaf.pk


@pytest.mark.skipif(connection.vendor != "postgresql", reason="GIN indexes are PostgreSQL's")
def test_postgresql_has_the_full_text_indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%%_fts'")
        rows = dict(cursor.fetchall())

    assert set(rows) == {
        "conversations_message_content_fts",
        "conversations_conversation_title_fts",
        "conversations_attachment_text_fts",
    }
    assert all("gin" in d and "to_tsvector('simple'" in d for d in rows.values())
