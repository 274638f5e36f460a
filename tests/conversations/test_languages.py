"""Who reads which language: the browser's Accept-Language, the switcher's cookie (and,
with the accounts app, the user's own setting); pages, socket error frames and the
texts of failed answers all follow it."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse

from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

ZH = "zh-CN,zh;q=0.9,en;q=0.5"


def test_a_chinese_browser_gets_the_sign_in_page_in_chinese(client: Client, alice: Any) -> None:
    # alice exists: past the first-run setup, the sign-in page is served.
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE=ZH).content.decode()
    assert '<html lang="zh-hans"' in page
    assert "欢迎回来" in page
    assert "登录以继续你的对话。" in page
    # Form labels and Django's own strings are translated too.
    assert "用户名" in page
    assert "Welcome back" not in page


def test_an_english_browser_gets_english(client: Client, alice: Any) -> None:
    # alice exists: past the first-run setup, the sign-in page is served.
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="en"' in page
    assert "Welcome back" in page


def test_the_switcher_posts_with_csrf_and_sets_the_language(client: Client, alice: Any) -> None:
    # alice exists: past the first-run setup, the sign-in page is served.
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'action="/i18n/setlang/"' in page
    assert 'name="csrfmiddlewaretoken"' in page

    strict = Client(enforce_csrf_checks=True)
    refused = strict.post("/i18n/setlang/", {"language": "zh-hans", "next": reverse("login")})
    assert refused.status_code == 403

    switched = client.post("/i18n/setlang/", {"language": "zh-hans", "next": reverse("login")})
    assert switched.status_code == 302
    assert switched.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    # The cookie now wins over an English browser.
    assert "欢迎回来" in client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_javascript_catalog_is_served_in_the_page_language(client: Client, alice: Any) -> None:
    # alice exists: past the first-run setup, the sign-in page is served.
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE=ZH).content.decode()
    assert 'src="/jsi18n/?l=zh-hans"' in page
    catalog = client.get("/jsi18n/?l=zh-hans", HTTP_ACCEPT_LANGUAGE=ZH).content.decode()
    assert "\\u6b63\\u5728\\u91cd\\u65b0\\u8fde\\u63a5" in catalog or "正在重新连接" in catalog


def test_the_chat_page_is_chinese_for_a_chinese_browser(alice: Any) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE=ZH)
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "今天有什么可以帮你？" in page
    assert "新对话" in page
    assert "How can I help you today?" not in page


def _failed(conversation: Any, code: str, error: str) -> Message:
    question = Message.objects.create(conversation=conversation, role="user", content="hi")
    answer = Message.objects.create(
        conversation=conversation,
        role="assistant",
        parent=question,
        status=Message.Status.ERROR,
        error_code=code,
        error=error,
    )
    conversation.current_leaf = answer
    conversation.save(update_fields=["current_leaf"])
    return answer


def test_a_failed_answer_reads_in_the_readers_language(alice: Any, conversation: Any) -> None:
    # Stored as it always was: a code and the English detail with the server's words.
    _failed(conversation, "upstream_http_error", "Incorrect API key provided: sk-te***.")
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    english.force_login(alice)
    page = english.get(f"/c/{conversation.pk}/").content.decode()
    assert "The answer failed." in page
    assert "Incorrect API key provided: sk-te***." in page

    chinese = Client(HTTP_ACCEPT_LANGUAGE=ZH)
    chinese.force_login(alice)
    page = chinese.get(f"/c/{conversation.pk}/").content.decode()
    assert "回答失败。" in page
    assert "模型服务器拒绝了请求。 详细信息：Incorrect API key provided: sk-te***." in page


def test_an_old_interrupted_answer_translates_from_its_code(alice: Any, conversation: Any) -> None:
    answer = _failed(conversation, "interrupted", "The server shut down while this answer...")
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.INTERRUPTED)
    chinese = Client(HTTP_ACCEPT_LANGUAGE=ZH)
    chinese.force_login(alice)
    page = chinese.get(f"/c/{conversation.pk}/").content.decode()
    assert "回答被中断。" in page
    assert "生成这条回答时服务器关闭了。已生成的文字会保留，你可以重新生成回答。" in page
    assert "The server shut down" not in page


async def _socket(user: Any, conversation_id: int, accept_language: str) -> WebsocketCommunicator:
    from chatweb.asgi import application

    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    communicator = WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation_id}/",
        headers=[
            (b"origin", b"http://testserver"),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
            (b"accept-language", accept_language.encode()),
        ],
    )
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    # An accepted socket starts with the conversation's title (docs/protocol.md).
    first = await communicator.receive_json_from(timeout=5)
    assert first["type"] == "title", first
    return communicator


@pytest.mark.asyncio
async def test_socket_error_frames_are_in_the_socket_users_language(
    live: None, alice: Any, conversation: Any
) -> None:
    chinese = await _socket(alice, conversation.pk, ZH)
    english = await _socket(alice, conversation.pk, "en-GB")
    try:
        await chinese.send_json_to({"type": "send", "text": "   "})
        frame = await chinese.receive_json_from(timeout=5)
        assert frame == {
            "type": "error",
            "code": "empty_text",
            "message": "请先输入消息。",
            "request": "send",
        }
        await chinese.send_json_to({"type": "bogus"})
        frame = await chinese.receive_json_from(timeout=5)
        assert frame["code"] == "bad_frame"
        assert frame["message"].startswith("帧必须是 JSON 对象")

        await english.send_json_to({"type": "send", "text": "   "})
        frame = await english.receive_json_from(timeout=5)
        assert frame["message"] == "Type a message first."
    finally:
        await chinese.disconnect()
        await english.disconnect()


@pytest.mark.asyncio
async def test_a_failed_answer_in_a_snapshot_is_in_the_socket_users_language(
    live: None, alice: Any, conversation: Any
) -> None:
    await sync_to_async(_failed)(conversation, "upstream_timeout", "No response for 5 s.")
    chinese = await _socket(alice, conversation.pk, ZH)
    try:
        await chinese.send_json_to({"type": "sync"})
        frame = await chinese.receive_json_from(timeout=5)
        assert frame["type"] == "snapshot"
        assert frame["message"]["error_code"] == "upstream_timeout"
        expected = "模型服务器未能及时响应。 详细信息：No response for 5 s."
        assert frame["message"]["error"] == expected
    finally:
        await chinese.disconnect()


# --- The user's own setting (the accounts app stores it) -------------------------------------


def _set_language(user: Any, language: str) -> None:
    accounts = pytest.importorskip("accounts.models")
    accounts.UserSettings.objects.update_or_create(user=user, defaults={"language": language})


def test_the_users_setting_wins_over_the_browser(alice: Any, conversation: Any) -> None:
    _set_language(alice, "zh-hans")
    _failed(conversation, "upstream_timeout", "No response for 5 s.")
    client = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    client.force_login(alice)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert '<html lang="zh-hans"' in page
    assert "新对话" in page
    assert "模型服务器未能及时响应。" in page

    _set_language(alice, "en")
    chinese_browser = Client(HTTP_ACCEPT_LANGUAGE=ZH)
    chinese_browser.force_login(alice)
    page = chinese_browser.get(f"/c/{conversation.pk}/").content.decode()
    assert '<html lang="en"' in page
    assert "No response for 5 s." in page


def test_same_as_the_browser_follows_the_browser(alice: Any) -> None:
    _set_language(alice, "")
    client = Client(HTTP_ACCEPT_LANGUAGE=ZH)
    client.force_login(alice)
    assert "今天有什么可以帮你" in client.get("/").content.decode()


@pytest.mark.asyncio
async def test_socket_frames_follow_the_users_setting(
    live: None, alice: Any, conversation: Any
) -> None:
    await sync_to_async(_set_language)(alice, "zh-hans")
    socket = await _socket(alice, conversation.pk, "en-US")
    try:
        await socket.send_json_to({"type": "stop"})
        frame = await socket.receive_json_from(timeout=5)
        assert frame["code"] == "not_streaming"
        assert frame["message"] == "当前没有正在生成的回答。"
    finally:
        await socket.disconnect()


# --- Traditional Chinese (zh-hant) ------------------------------------------------------------

TW = "zh-TW,zh;q=0.9,en;q=0.5"
WELCOME = {"zh-hant": "歡迎回來", "zh-hans": "欢迎回来", "en": "Welcome back"}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-TW", "zh-hant"),
        ("zh-HK", "zh-hant"),
        ("zh-MO", "zh-hant"),
        ("zh-Hant", "zh-hant"),
        ("zh-Hant-TW", "zh-hant"),
        (TW, "zh-hant"),
        ("zh-CN", "zh-hans"),
        ("zh-SG", "zh-hans"),
        ("zh", "zh-hans"),
        ("zh-Hans-CN", "zh-hans"),
        ("en-US,zh-TW;q=0.5", "en"),
    ],
)
def test_the_browsers_chinese_reaches_its_script(
    client: Client, alice: Any, header: str, language: str
) -> None:
    from accounts.language import language_from_headers

    assert language_from_headers({}, header) == language
    # alice exists: past the first-run setup, the sign-in page is served.
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE=header).content.decode()
    assert f'<html lang="{language}"' in page
    assert WELCOME[language] in page
    assert f'src="/jsi18n/?l={language}"' in page


def test_a_taiwanese_browser_gets_traditional_pages_scripts_and_dates(
    alice: Any, conversation: Any
) -> None:
    _failed(conversation, "upstream_timeout", "No response for 5 s.")
    client = Client(HTTP_ACCEPT_LANGUAGE=TW)
    page = client.get(reverse("login")).content.decode()
    assert "登入以繼續你的對話。" in page
    assert "使用者名稱" in page  # Django's own form label, from Django's zh_Hant
    # The switcher offers it, named in its own script.
    assert '<option value="zh-hant" lang="zh-hant" selected>繁體中文</option>' in page
    client.force_login(alice)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert "新對話" in page
    assert "模型伺服器未能及時回應。 詳細資訊：No response for 5 s." in page
    catalog = client.get("/jsi18n/?l=zh-hant").content.decode()
    assert "正在重新連線" in catalog or "\\u6b63\\u5728\\u91cd\\u65b0\\u9023\\u7dda" in catalog
    # Dates on the server: Django's zh-hant formats.
    from django.utils import formats, translation

    with translation.override("zh-hant"):
        assert formats.date_format(conversation.created_at, "DATE_FORMAT").endswith("日")


@pytest.mark.asyncio
async def test_socket_frames_are_traditional_for_a_taiwanese_browser(
    live: None, alice: Any, conversation: Any
) -> None:
    socket = await _socket(alice, conversation.pk, TW)
    try:
        await socket.send_json_to({"type": "send", "text": "   "})
        frame = await socket.receive_json_from(timeout=5)
        assert (frame["code"], frame["message"]) == ("empty_text", "請先輸入訊息。")
    finally:
        await socket.disconnect()


def test_the_users_traditional_setting_is_saved_and_wins_over_the_browser(alice: Any) -> None:
    accounts = pytest.importorskip("accounts.models")
    client = Client(HTTP_ACCEPT_LANGUAGE=ZH)
    client.force_login(alice)
    form = {"theme": "system", "language": "zh-hant", "send_key": "enter"}
    assert client.post("/settings/", form).status_code == 302
    assert accounts.UserSettings.objects.get(user=alice).language == "zh-hant"
    page = client.get("/").content.decode()
    assert '<html lang="zh-hant"' in page
    assert "今天有什麼可以幫你的？" in page
    # A code Django would map (zh-tw) is not a choice: refused, nothing changed.
    refused = client.post("/settings/", {**form, "language": "zh-tw"})
    assert refused.status_code == 400
    assert accounts.UserSettings.objects.get(user=alice).language == "zh-hant"


def test_the_admin_reads_traditional_and_no_django_string_reads_english(
    django_user_model: Any, alice: Any
) -> None:
    """Django's own admin strings that its zh_Hans lacks (chatweb/django_gaps.py) read
    Chinese in both scripts; the zh-Hant admin shows our apps in Traditional."""
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "x-12345-y")
    for language, words in {
        "zh-hans": ("模型名称", "对话", "修改"),
        "zh-hant": ("模型名稱", "對話", "修改", "供應商"),
    }.items():
        client = Client(HTTP_ACCEPT_LANGUAGE=language)
        client.force_login(boss)
        page = client.get(reverse("admin:index")).content.decode()
        for word in words:
            assert word in page, (language, word)
        for english in ("Model name", "Add link", "Change or view list link"):
            assert english not in page, (language, english)
        added = client.get(reverse("admin:auth_user_add")).content.decode()
        assert "edit more user options" not in added
