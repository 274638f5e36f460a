"""The admin for conversations and messages, as the superuser sees it."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(alice, bob, add_message):
    """Alice's chat about tides (two matching messages) and Bob's about bread."""
    tides = Conversation.objects.create(user=alice, title="Tides", model="fake-model")
    question = add_message(tides, "user", "Why are there two tides a day?")
    add_message(
        tides,
        "assistant",
        "Two tides: the moon pulls the near side and the far side.",
        parent=question,
        model="fake-model",
        prompt_tokens=111,
        completion_tokens=222,
        total_tokens=333,
    )
    bread = Conversation.objects.create(
        user=bob, title="Bread", model="fake-model-2", context_enabled=False
    )
    add_message(bread, "user", "How long should dough rise?")
    return tides, bread


def _page(response: Any) -> str:
    return str(response.content.decode())


def test_the_conversation_changelist_lists_every_users_conversations(admin_client, history):
    response = admin_client.get("/admin/conversations/conversation/")

    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    page = _page(response)
    assert "Tides" in page
    assert "Bread" in page


def test_the_conversation_search_matches_message_text_once_per_conversation(admin_client, history):
    tides, _ = history

    response = admin_client.get("/admin/conversations/conversation/", {"q": "tides"})

    assert response.status_code == 200
    # The title and both messages match; the conversation is still listed once.
    assert list(response.context["cl"].result_list) == [tides]


def test_the_conversation_search_matches_the_owner(admin_client, history):
    _, bread = history

    response = admin_client.get("/admin/conversations/conversation/", {"q": "bob"})

    assert list(response.context["cl"].result_list) == [bread]


def test_the_conversation_changelist_filters(admin_client, history):
    tides, bread = history

    by_context = admin_client.get(
        "/admin/conversations/conversation/", {"context_enabled__exact": "0"}
    )
    by_model = admin_client.get(
        "/admin/conversations/conversation/", {"model__exact": "fake-model"}
    )

    assert by_context.status_code == 200
    assert list(by_context.context["cl"].result_list) == [bread]
    assert by_model.status_code == 200
    assert list(by_model.context["cl"].result_list) == [tides]


def test_the_conversation_changelist_filters_pinned_archived_and_temporary(
    admin_client, history, alice
):
    import datetime as dt

    from django.utils import timezone

    tides, bread = history
    Conversation.objects.filter(pk=tides.pk).update(pinned=True)
    Conversation.objects.filter(pk=bread.pk).update(archived=True)
    passing = Conversation.objects.create(
        user=alice, title="Passing", expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    url = "/admin/conversations/conversation/"

    def listed(**query: str) -> set[Conversation]:
        response = admin_client.get(url, query)
        assert response.status_code == 200
        return set(response.context["cl"].result_list)

    assert listed(pinned__exact="1") == {tides}
    assert listed(archived__exact="1") == {bread}
    assert listed(expires_at__isempty="0") == {passing}  # temporary
    assert listed(expires_at__isempty="1") == {tides, bread}
    page = _page(admin_client.get(url))
    for title in ("By pinned", "By archived", "By temporary: deleted at"):
        assert title in page


def test_the_conversation_page_shows_its_messages_inline(admin_client, history):
    tides, _ = history

    response = admin_client.get(f"/admin/conversations/conversation/{tides.pk}/change/")

    assert response.status_code == 200
    page = _page(response)
    assert "Why are there two tides a day?" in page
    assert "Two tides: the moon pulls the near side and the far side." in page
    assert "333" in page
    assert "How long should dough rise?" not in page


def test_the_message_changelist_shows_token_columns(admin_client, history):
    response = admin_client.get("/admin/conversations/message/")

    assert response.status_code == 200
    page = _page(response)
    for column in ("column-prompt_tokens", "column-completion_tokens", "column-total_tokens"):
        assert column in page
    for value in ("111", "222", "333"):
        assert f">{value}<" in page


def test_the_message_changelist_searches_and_filters(admin_client, history):
    searched = admin_client.get("/admin/conversations/message/", {"q": "dough"})
    filtered = admin_client.get("/admin/conversations/message/", {"role__exact": "assistant"})

    assert searched.status_code == 200
    assert [m.content for m in searched.context["cl"].result_list] == [
        "How long should dough rise?"
    ]
    assert filtered.status_code == 200
    assert [m.role for m in filtered.context["cl"].result_list] == ["assistant"]


def test_the_message_page_loads(admin_client, history):
    message = Message.objects.get(role="assistant")

    response = admin_client.get(f"/admin/conversations/message/{message.pk}/change/")

    assert response.status_code == 200
    assert "Two tides" in _page(response)


def test_the_admin_names_our_apps_models_and_columns_in_chinese(admin_client, history):
    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
    index = _page(admin_client.get("/admin/", **zh))
    messages = _page(admin_client.get("/admin/conversations/message/", **zh))
    message = Message.objects.get(role="assistant")
    form = _page(admin_client.get(f"/admin/conversations/message/{message.pk}/change/", **zh))

    for name in ("对话", "模型、用量与配额", "用量记录", "服务商", "提示词", "分享链接"):
        assert f">{name}</" in index
    for english in ("Conversations", "Usage records", "Shared links"):
        assert english not in index
    assert "提示 token 数" in messages  # A column.
    assert "助手" in messages  # A role, in the list and its filter.
    assert "已完成" in messages  # A status.
    assert "上一条消息" in form  # A field's label.


def test_the_admin_is_closed_to_ordinary_users(alice_client, history):
    response = alice_client.get("/admin/conversations/conversation/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
