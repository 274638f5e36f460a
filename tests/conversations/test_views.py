"""The server-rendered pages: first-run setup, accounts, the chat and conversation management."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client
from django.utils import timezone

from conversations import actions
from conversations.models import Conversation, Message
from conversations.views import SIDEBAR_PAGE, THREAD_PAGE
from streaming.registry import registry
from tests.upstream import expected_text

pytestmark = pytest.mark.django_db

User = get_user_model()


def _logged_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def _html(response: Any) -> str:
    return str(response.content.decode())


# --- First run ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/signup/"])
def test_a_fresh_install_sends_every_visitor_to_setup(client, settings, path):
    settings.ALLOW_SIGNUP = True

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == "/setup/"


def test_setup_page_loads_on_a_fresh_install(client):
    response = client.get("/setup/")

    assert response.status_code == 200
    assert 'name="password2"' in _html(response)


def test_setup_creates_a_superuser_and_signs_them_in(client):
    response = client.post(
        "/setup/",
        {
            "username": "root",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    admin = User.objects.get()
    assert admin.username == "root"
    assert admin.is_superuser
    assert admin.is_staff
    assert _logged_in_user_id(client) == str(admin.pk)
    assert client.get("/").status_code == 200


def test_setup_with_mismatched_passwords_creates_nobody(client):
    response = client.post(
        "/setup/",
        {"username": "root", "password1": "a-long-passphrase-9", "password2": "different-9"},
    )

    assert response.status_code == 200
    assert not User.objects.exists()


def test_setup_is_closed_once_an_account_exists(client, alice):
    assert client.get("/setup/")["Location"] == "/"

    response = client.post(
        "/setup/",
        {
            "username": "intruder",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
        },
    )

    assert response.status_code == 302
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]
    assert not User.objects.filter(is_superuser=True).exists()
    assert _logged_in_user_id(client) is None


# --- Accounts ----------------------------------------------------------------------------


def test_signup_is_not_found_unless_allowed(client, alice, settings):
    settings.ALLOW_SIGNUP = False

    assert client.get("/accounts/signup/").status_code == 404
    response = client.post(
        "/accounts/signup/",
        {"username": "eve", "password1": "a-long-passphrase-9", "password2": "a-long-passphrase-9"},
    )
    assert response.status_code == 404
    assert not User.objects.filter(username="eve").exists()


def test_signup_creates_an_ordinary_user_when_allowed(client, alice, settings):
    settings.ALLOW_SIGNUP = True

    assert client.get("/accounts/signup/").status_code == 200
    response = client.post(
        "/accounts/signup/",
        {"username": "eve", "password1": "a-long-passphrase-9", "password2": "a-long-passphrase-9"},
    )

    assert response.status_code == 302
    eve = User.objects.get(username="eve")
    assert not eve.is_staff
    assert not eve.is_superuser
    assert _logged_in_user_id(client) == str(eve.pk)


def test_the_login_page_offers_signup_only_when_allowed(client, alice, settings):
    settings.ALLOW_SIGNUP = False
    assert "/accounts/signup/" not in _html(client.get("/accounts/login/"))

    settings.ALLOW_SIGNUP = True
    assert "/accounts/signup/" in _html(client.get("/accounts/login/"))


def test_login_with_the_right_password_signs_in(client, alice):
    assert client.get("/accounts/login/").status_code == 200

    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "alice-password-1"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert _logged_in_user_id(client) == str(alice.pk)


def test_login_follows_next(client, alice, conversation):
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "alice-password-1", "next": f"/c/{conversation.pk}/"},
    )

    assert response["Location"] == f"/c/{conversation.pk}/"


def test_login_with_a_wrong_password_is_refused(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert _logged_in_user_id(client) is None


def test_logout_needs_a_post(alice_client):
    assert alice_client.get("/accounts/logout/").status_code == 405
    assert _logged_in_user_id(alice_client) is not None

    response = alice_client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert _logged_in_user_id(alice_client) is None


def test_anonymous_visitors_are_sent_to_login(client, alice, conversation):
    assert client.get("/")["Location"] == "/accounts/login/?next=/"
    response = client.get(f"/c/{conversation.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- The chat page -----------------------------------------------------------------------


def test_the_chat_page_lists_only_my_conversations_newest_first(alice_client, alice, bob):
    now = timezone.now()
    for title, age in [("Oldest chat", 3), ("Newest chat", 1), ("Middle chat", 2)]:
        Conversation.objects.create(user=alice, title=title, updated_at=now - timedelta(hours=age))
    Conversation.objects.create(user=bob, title="Bob secret chat", updated_at=now)

    page = _html(alice_client.get("/"))

    assert "Bob secret chat" not in page
    positions = [page.index(t) for t in ("Newest chat", "Middle chat", "Oldest chat")]
    assert positions == sorted(positions)


def _fill(user: Any, conversations: int, exchanges: int) -> Conversation:
    """`conversations` conversations of `exchanges` finished exchanges; returns the last."""
    conversation = None
    for c in range(conversations):
        conversation = Conversation.objects.create(user=user, title=f"Chat {c}", model="fake-model")
        parent = None
        for e in range(exchanges):
            question = Message.objects.create(
                conversation=conversation, parent=parent, role="user", content=f"q{e}"
            )
            parent = Message.objects.create(
                conversation=conversation,
                parent=question,
                role="assistant",
                content=f"a{e}",
                html=f"<p>a{e}</p>",
                status=Message.Status.DONE,
            )
        conversation.current_leaf = parent
        conversation.save()
    assert conversation is not None
    return conversation


# User, "does any account exist?", the user's settings, the conversation list, the projects;
# the session is cached, and so is the catalog (catalog.snapshot: warm_catalog() as on a
# running server).
HOME_QUERIES = 5
# User, the conversation, its messages, the user's settings, the conversation list, the
# projects.
CONVERSATION_QUERIES = 6


def warm_catalog() -> None:
    from catalog import snapshot

    snapshot.get()


@pytest.mark.parametrize(("conversations", "exchanges"), [(2, 1), (10, 6), (120, 0)])
def test_the_home_page_query_count_does_not_grow(
    alice_client, alice, django_assert_num_queries, conversations, exchanges
):
    _fill(alice, conversations, exchanges)

    warm_catalog()
    with django_assert_num_queries(HOME_QUERIES):
        response = alice_client.get("/")

    assert response.status_code == 200
    assert _html(response).count('class="conv-link"') == min(conversations, SIDEBAR_PAGE)


def _bulk_conversations(user: Any, count: int) -> list[Conversation]:
    """`count` empty conversations, newest first (as the sidebar lists them)."""
    start = timezone.now()
    Conversation.objects.bulk_create(
        Conversation(user=user, title=f"Chat {n}", updated_at=start - timedelta(seconds=n))
        for n in range(count)
    )
    return list(Conversation.objects.filter(user=user))


def _listed(page: str) -> list[int]:
    items = re.findall(r'<li class="conv[ a-z]*" data-conversation-id="(\d+)"', page)
    return [int(pk) for pk in items]


@pytest.mark.parametrize("count", [20, 2000])
def test_a_page_lists_one_sidebar_page_whatever_the_number_of_conversations(
    alice_client, alice, django_assert_num_queries, count
):
    ordered = _bulk_conversations(alice, count)
    warm_catalog()
    with django_assert_num_queries(CONVERSATION_QUERIES - 1):  # no messages to load
        page = _html(alice_client.get(f"/c/{ordered[0].pk}/"))
    assert _listed(page) == [c.pk for c in ordered[:SIDEBAR_PAGE]]
    assert ("data-load-more" in page) == (count > SIDEBAR_PAGE)


def test_load_more_walks_every_conversation_once_in_order(
    alice_client, alice, bob, django_assert_num_queries
):
    ordered = _bulk_conversations(alice, 2 * SIDEBAR_PAGE + 7)
    Conversation.objects.create(user=bob, title="Bob secret chat")
    # Two conversations touched in the same instant are ordered by id.
    Conversation.objects.filter(pk__in=[ordered[10].pk, ordered[11].pk]).update(
        updated_at=ordered[10].updated_at
    )
    ordered = list(Conversation.objects.filter(user=alice))
    page = _html(alice_client.get("/"))
    seen = _listed(page)
    while (more := re.search(r'data-load-more="([^"]+)"', page)) is not None:
        # The user, their language, the cursor, the page, the projects (the move menus').
        with django_assert_num_queries(5):
            response = alice_client.get(more[1].replace("&amp;", "&"))
        assert response.status_code == 200
        page = _html(response)
        assert "<html" not in page  # a partial: list items only
        seen += _listed(page)
    assert seen == [c.pk for c in ordered]
    assert "Bob secret chat" not in page


def test_load_more_keeps_the_open_conversation_marked(alice_client, alice):
    ordered = _bulk_conversations(alice, SIDEBAR_PAGE + 5)
    last = ordered[-1]
    page = _html(alice_client.get(f"/c/{last.pk}/"))
    url = re.search(r'data-load-more="([^"]+)"', page)
    assert url is not None
    rest = _html(alice_client.get(url[1].replace("&amp;", "&")))
    assert f'href="/c/{last.pk}/" aria-current="page"' in rest


def test_a_row_loaded_by_load_more_deletes_back_to_the_page_it_is_shown_on(alice_client, alice):
    ordered = _bulk_conversations(alice, SIDEBAR_PAGE + 5)
    open_one = ordered[0]
    page = _html(alice_client.get(f"/c/{open_one.pk}/"))
    url = re.search(r'data-load-more="([^"]+)"', page)
    assert url is not None
    rest = _html(alice_client.get(url[1].replace("&amp;", "&")))
    assert f'name="next" value="/c/{open_one.pk}/"' in rest
    assert 'value="/c/list/"' not in rest


@pytest.mark.parametrize("before", ["", "abc"])
def test_load_more_without_a_cursor_is_a_clear_400(alice_client, before):
    response = alice_client.get(f"/c/list/?before={before}")
    assert response.status_code == 400
    assert b"conversation id" in response.content


def test_load_more_after_someone_elses_conversation_is_a_404(alice_client, bob):
    theirs = Conversation.objects.create(user=bob, title="Bob secret chat")
    assert alice_client.get(f"/c/list/?before={theirs.pk}").status_code == 404


def test_load_more_needs_a_signed_in_user(client, conversation):
    response = client.get(f"/c/list/?before={conversation.pk}")
    assert response.status_code == 302


@pytest.mark.parametrize(("conversations", "exchanges"), [(2, 1), (10, 6)])
def test_the_conversation_page_query_count_does_not_grow(
    alice_client, alice, django_assert_num_queries, conversations, exchanges
):
    conversation = _fill(alice, conversations, exchanges)

    warm_catalog()
    with django_assert_num_queries(CONVERSATION_QUERIES):
        response = alice_client.get(f"/c/{conversation.pk}/")

    assert response.status_code == 200
    # One template of each kind for chat.js, then the thread.
    assert _html(response).count('data-role="assistant"') == exchanges + 1


def test_the_conversation_page_shows_the_active_branch_only(
    alice_client, conversation, add_message
):
    question = add_message(conversation, "user", "the question")
    add_message(conversation, "assistant", "", parent=question, html="<p>OLD BRANCH</p>")
    add_message(conversation, "assistant", "", parent=question, html="<p>NEW BRANCH</p>")

    page = _html(alice_client.get(f"/c/{conversation.pk}/"))

    assert "the question" in page
    assert "NEW BRANCH" in page
    assert "OLD BRANCH" not in page


def test_a_finished_answer_shows_its_stored_html_not_a_new_rendering(
    alice_client, conversation, add_message
):
    question = add_message(conversation, "user", "hi")
    add_message(conversation, "assistant", "**RAWMARKDOWN**", parent=question, html="<p>STORED</p>")

    page = _html(alice_client.get(f"/c/{conversation.pk}/"))

    assert "<p>STORED</p>" in page
    assert "<strong>RAWMARKDOWN</strong>" not in page
    # The raw markdown is there only for Copy, as inert text.
    assert "<template data-raw>**RAWMARKDOWN**</template>" in page


def test_a_user_message_is_escaped(alice_client, conversation, add_message):
    add_message(conversation, "user", "<script>alert('pwned')</script>")

    page = _html(alice_client.get(f"/c/{conversation.pk}/"))

    assert "<script>alert('pwned')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page


def test_a_streaming_answer_shows_its_escaped_text_so_far(alice_client, conversation, add_message):
    question = add_message(conversation, "user", "hi")
    answer = add_message(
        conversation, "assistant", "partial <b>", parent=question, status=Message.Status.STREAMING
    )

    page = _html(alice_client.get(f"/c/{conversation.pk}/"))

    assert "partial &lt;b&gt;" in page
    assert f'data-streaming-message-id="{answer.pk}"' in page


def test_the_page_explains_to_an_admin_how_to_configure_a_provider(client, settings, alice):
    settings.OPENAI_API_BASE_URL = ""
    alice.is_staff = True
    alice.save()
    client.force_login(alice)

    page = _html(client.get("/"))

    assert "No model provider is configured" in page
    assert "OPENAI_API_KEY" in page
    assert "make demo" in page
    # The composer says so instead of offering a chat that can only fail.
    assert re.search(r"<textarea id=\"composer-text\"[^>]* disabled", page)
    assert re.search(r'<button type="submit" class="send-btn"[^>]* disabled', page)


def test_others_are_told_to_ask_their_administrator(alice_client, settings):
    settings.OPENAI_API_BASE_URL = ""

    page = _html(alice_client.get("/"))

    assert "Ask your administrator to configure a model provider." in page
    assert "OPENAI_API_KEY" not in page
    assert re.search(r"<textarea id=\"composer-text\"[^>]* disabled", page)


def test_starting_a_chat_without_a_provider_writes_nothing(alice_client, settings):
    settings.OPENAI_API_BASE_URL = ""

    response = alice_client.post("/c/new/", {"text": "hello?"})

    assert response.status_code == 503
    assert "Ask your administrator" in _html(response)
    assert not Conversation.objects.exists()


def test_the_provider_hint_is_hidden_once_a_provider_is_configured(alice_client, settings):
    settings.OPENAI_API_BASE_URL = "http://127.0.0.1:9/v1"

    assert "No model provider is configured" not in _html(alice_client.get("/"))


def test_the_api_key_never_appears_in_a_page(client, alice, settings, add_message):
    settings.OPENAI_API_KEY = "sk-should-never-appear"
    settings.OPENAI_API_BASE_URL = "http://127.0.0.1:9/v1"
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    conversation = Conversation.objects.create(user=alice, title="Keys", model="fake-model")
    question = add_message(conversation, "user", "hi")
    answer = add_message(
        conversation,
        "assistant",
        "oops",
        parent=question,
        status=Message.Status.ERROR,
        error_code="upstream_http_error",
        error="The provider refused the request.",
    )
    pages = [
        "/",
        f"/c/{conversation.pk}/",
        "/admin/",
        "/admin/conversations/conversation/",
        f"/admin/conversations/conversation/{conversation.pk}/change/",
        "/admin/conversations/message/",
        f"/admin/conversations/message/{answer.pk}/change/",
    ]

    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "sk-should-never-appear" not in _html(response), path


# --- Ownership ---------------------------------------------------------------------------


@pytest.fixture
def bob_client(bob: Any) -> Client:
    client = Client()
    client.force_login(bob)
    return client


def test_it_refuses_another_users_conversation(bob_client, conversation):
    assert bob_client.get(f"/c/{conversation.pk}/").status_code == 404


def test_it_refuses_to_rename_another_users_conversation(bob_client, conversation):
    response = bob_client.post(f"/c/{conversation.pk}/rename/", {"title": "Mine now"})

    assert response.status_code == 404
    conversation.refresh_from_db()
    assert conversation.title == "New chat"


def test_it_refuses_to_delete_another_users_conversation(bob_client, conversation):
    response = bob_client.post(f"/c/{conversation.pk}/delete/")

    assert response.status_code == 404
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_it_refuses_to_change_another_users_settings(bob_client, conversation):
    response = bob_client.post(
        f"/c/{conversation.pk}/settings/",
        {"model": "fake-model-2", "system_prompt": "Be evil."},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 404
    conversation.refresh_from_db()
    assert conversation.model == "fake-model"
    assert conversation.system_prompt == ""


def test_a_missing_conversation_is_not_found(alice_client):
    assert alice_client.get("/c/999999/").status_code == 404


# --- Rename, delete, settings ------------------------------------------------------------


def test_rename_changes_the_title(alice_client, conversation):
    response = alice_client.post(f"/c/{conversation.pk}/rename/", {"title": "Holiday plans"})

    assert response.status_code == 302
    assert response["Location"] == f"/c/{conversation.pk}/"
    conversation.refresh_from_db()
    assert conversation.title == "Holiday plans"


def test_rename_with_nul_stores_the_title_cleaned_not_a_500(alice_client, conversation):
    # (A form cannot carry a lone surrogate: UTF-8 has none. The socket test sends one.)
    response = alice_client.post(f"/c/{conversation.pk}/rename/", {"title": "Ho\x00li day"})

    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Holi day"


def test_rename_to_an_empty_title_keeps_the_old_one(alice_client, conversation):
    alice_client.post(f"/c/{conversation.pk}/rename/", {"title": "   "})

    conversation.refresh_from_db()
    assert conversation.title == "New chat"


def test_rename_needs_a_post(alice_client, conversation):
    assert alice_client.get(f"/c/{conversation.pk}/rename/").status_code == 405


def test_delete_removes_the_conversation_and_its_messages(alice_client, conversation, add_message):
    question = add_message(conversation, "user", "hi")
    add_message(conversation, "assistant", "hello", parent=question)

    response = alice_client.post(f"/c/{conversation.pk}/delete/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.exists()


def test_delete_needs_a_post(alice_client, conversation):
    assert alice_client.get(f"/c/{conversation.pk}/delete/").status_code == 405
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_settings_form_saves_model_context_and_prompt(alice_client, conversation):
    response = alice_client.post(
        f"/c/{conversation.pk}/settings/",
        {"model": "fake-model-2", "system_prompt": "Answer in French."},
    )

    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.model == "fake-model-2"
    assert conversation.context_enabled is False  # An unticked checkbox is not sent.
    assert conversation.instructions_enabled is False
    assert conversation.system_prompt == "Answer in French."


def test_settings_saved_through_fetch_answer_json(alice_client, conversation):
    response = alice_client.post(
        f"/c/{conversation.pk}/settings/",
        {
            "model": "fake-model-2",
            "context_enabled": "on",
            "instructions_enabled": "on",
            "system_prompt": "Be brief.",
        },
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    conversation.refresh_from_db()
    assert conversation.model == "fake-model-2"
    assert conversation.context_enabled is True
    assert conversation.instructions_enabled is True
    assert conversation.system_prompt == "Be brief."


def test_settings_with_an_unknown_model_is_a_400_with_its_code(alice_client, conversation):
    response = alice_client.post(
        f"/c/{conversation.pk}/settings/",
        {"model": "gpt-unknown", "context_enabled": "", "system_prompt": "x"},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    assert body["code"] == "unknown_model"
    assert body["error"]
    conversation.refresh_from_db()
    assert conversation.model == "fake-model"
    assert conversation.context_enabled is True
    assert conversation.instructions_enabled is True
    assert conversation.system_prompt == ""


# --- Starting a conversation (an async view) ---------------------------------------------


async def _finish_running_answers() -> None:
    for _, task in list(registry.running.values()):
        await task


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_starting_a_conversation_saves_the_message_and_streams_the_answer(
    alice, upstream, live
):
    client = AsyncClient()
    await client.aforce_login(alice)

    response = await client.post("/c/new/", {"text": "[[fake tokens=3]]"})

    assert response.status_code == 302
    conversation = await Conversation.objects.aget(user=alice)
    assert response["Location"] == f"/c/{conversation.pk}/"
    question = await Message.objects.aget(conversation=conversation, role="user")
    assert question.content == "[[fake tokens=3]]"
    await _finish_running_answers()
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.parent_id == question.pk
    assert answer.status == Message.Status.DONE
    assert answer.content == expected_text(3)
    assert answer.html == f"<p>{expected_text(3)}</p>"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_first_message_with_nul_is_stored_cleaned_not_a_500(alice, upstream, live):
    client = AsyncClient()
    await client.aforce_login(alice)

    response = await client.post("/c/new/", {"text": "he\x00llo [[fake tokens=2]]"})

    assert response.status_code == 302
    await _finish_running_answers()
    conversation = await Conversation.objects.aget(user=alice)
    assert conversation.title == "hello [[fake tokens=2]]"
    question = await Message.objects.aget(conversation=conversation, role="user")
    assert question.content == "hello [[fake tokens=2]]"
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert (answer.status, answer.content) == (Message.Status.DONE, expected_text(2))


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_starting_a_conversation_uses_the_chosen_model(alice, upstream, live):
    client = AsyncClient()
    await client.aforce_login(alice)

    await client.post("/c/new/", {"text": "[[fake tokens=1]]", "model": "fake-model-2"})
    await _finish_running_answers()

    conversation = await Conversation.objects.aget(user=alice)
    assert conversation.model == "fake-model-2"
    assert upstream.chat_requests[0].json["model"] == "fake-model-2"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("text", ["", "   \n ", "\x00 \x00"])
async def test_starting_a_conversation_with_empty_text_writes_nothing(alice, live, settings, text):
    settings.OPENAI_API_BASE_URL = "http://127.0.0.1:9/v1"  # Configured, never reached.
    client = AsyncClient()
    await client.aforce_login(alice)

    response = await client.post("/c/new/", {"text": text})

    assert response.status_code == 400
    assert await Conversation.objects.acount() == 0
    assert await Message.objects.acount() == 0
    assert not registry.running


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_refused_first_message_is_given_back_to_edit(alice, live, settings):
    settings.OPENAI_API_BASE_URL = "http://127.0.0.1:9/v1"  # Configured, never reached.
    client = AsyncClient()
    await client.aforce_login(alice)
    draft = "my carefully written draft " + "x" * actions.MAX_MESSAGE_CHARS

    response = await client.post("/c/new/", {"text": draft})

    assert response.status_code == 400
    assert await Message.objects.acount() == 0
    assert draft in _html(response)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_refused_first_message_says_why(alice, live, settings):
    settings.OPENAI_API_BASE_URL = "http://127.0.0.1:9/v1"  # Configured, never reached.
    client = AsyncClient()
    await client.aforce_login(alice)

    response = await client.post("/c/new/", {"text": "hi", "model": "gpt-unknown"})

    assert response.status_code == 400
    assert "Unknown model" in _html(response)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_starting_a_conversation_needs_a_login(alice, live):
    response = await AsyncClient().post("/c/new/", {"text": "hi"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert await Message.objects.acount() == 0


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_starting_a_conversation_needs_a_post(alice, live):
    client = AsyncClient()
    await client.aforce_login(alice)

    assert (await client.get("/c/new/")).status_code == 405


def test_the_thread_partial_is_the_active_path_with_its_switcher(
    alice_client, conversation, add_message
):
    old = add_message(conversation, "user", "old version")
    add_message(conversation, "user", "new version")

    page = _html(alice_client.get(f"/c/{conversation.pk}/thread/"))

    assert "new version" in page
    assert "old version" not in page
    assert "<html" not in page
    assert '<span class="branch-label" data-branch-label>2/2</span>' in page
    assert f'data-target-id="{old.pk}" aria-label="Previous version"' in page


def _chain(conversation: Conversation, count: int, add_message: Any) -> list[Message]:
    """`count` messages, question and answer in turn, each the child of the one before."""
    chain: list[Message] = []
    for n in range(count):
        role = "user" if n % 2 == 0 else "assistant"
        parent = chain[-1] if chain else None
        chain.append(add_message(conversation, role, f"message number {n}.", parent=parent))
    return chain


def _shown(page: str) -> list[int]:
    return [
        int(pk)
        for pk in re.findall(r'<article class="msg[^"]*"[^>]* data-message-id="(\d+)"', page)
    ]


def _earlier(page: str) -> int | None:
    found = re.search(r'data-earlier="(\d+)"', page)
    return int(found[1]) if found else None


def test_a_long_conversation_shows_its_newest_messages_and_the_rest_on_request(
    alice_client, conversation, add_message
):
    chain = _chain(conversation, 2 * THREAD_PAGE + 20, add_message)
    ids = [m.pk for m in chain]

    page = _html(alice_client.get(f"/c/{conversation.pk}/"))
    assert _shown(page) == ids[-THREAD_PAGE:]
    assert "Show earlier messages" in page
    seen = _shown(page)
    while (before := _earlier(page)) is not None:
        assert before == seen[0]
        response = alice_client.get(f"/c/{conversation.pk}/thread/?before={before}")
        assert response.status_code == 200
        page = _html(response)
        assert "<html" not in page
        seen = _shown(page) + seen
    assert seen == ids  # every message once, in order: 50 + 50 + 20
    assert len(_shown(page)) == 20


def test_the_thread_partial_after_a_path_frame_is_the_newest_page(
    alice_client, conversation, add_message
):
    chain = _chain(conversation, THREAD_PAGE + 1, add_message)

    page = _html(alice_client.get(f"/c/{conversation.pk}/thread/"))

    assert _shown(page) == [m.pk for m in chain[1:]]
    assert _earlier(page) == chain[1].pk


def test_a_short_conversation_has_no_earlier_button(alice_client, conversation, add_message):
    chain = _chain(conversation, THREAD_PAGE, add_message)

    page = _html(alice_client.get(f"/c/{conversation.pk}/"))

    assert _shown(page) == [m.pk for m in chain]
    assert "data-earlier" not in page


def test_earlier_messages_of_a_message_not_on_the_path_are_refused(
    alice_client, conversation, add_message
):
    chain = _chain(conversation, 4, add_message)
    aside = add_message(conversation, "user", "another branch", parent=chain[0], leaf=False)
    url = f"/c/{conversation.pk}/thread/?before="

    assert alice_client.get(url + str(aside.pk)).status_code == 409
    assert alice_client.get(url + "abc").status_code == 400
    assert alice_client.get(url + "²").status_code == 400  # a digit to isdigit(), not int()
    assert alice_client.get(url + str(chain[2].pk)).status_code == 200


def test_a_search_result_opens_the_page_reaching_back_to_its_message(
    alice_client, conversation, add_message
):
    chain = _chain(conversation, 3 * THREAD_PAGE, add_message)
    found = chain[10]

    page = _html(alice_client.get(f"/c/{conversation.pk}/?message={found.pk}"))

    assert _shown(page) == [m.pk for m in chain[10:]]
    assert _earlier(page) == found.pk
    # Not an id: the page as it is.
    assert alice_client.get(f"/c/{conversation.pk}/?message=²").status_code == 200


def test_the_context_cut_shows_above_its_message_in_whichever_page_holds_it(
    alice_client, conversation, add_message
):
    chain = _chain(conversation, THREAD_PAGE + 10, add_message)
    Message.objects.filter(pk=chain[-1].pk).update(context_from_id=chain[4].pk)
    cut = '<div class="context-cut"'

    page = _html(alice_client.get(f"/c/{conversation.pk}/"))
    newest = re.sub(r"<template.*?</template>", "", page, flags=re.S)  # the script's copies
    older = _html(alice_client.get(f"/c/{conversation.pk}/thread/?before={chain[10].pk}"))

    assert cut not in newest
    assert older.index(cut) < older.index(f'data-message-id="{chain[4].pk}"')
    assert older.count(cut) == 1
    # From the path's first message on, nothing was left out: no cut.
    Message.objects.filter(pk=chain[-1].pk).update(context_from_id=chain[0].pk)
    assert cut not in _html(alice_client.get(f"/c/{conversation.pk}/thread/?before={chain[10].pk}"))


def test_the_thread_partial_refuses_another_users_conversation(bob_client, conversation):
    assert bob_client.get(f"/c/{conversation.pk}/thread/").status_code == 404


def test_deleting_another_conversation_keeps_you_where_you_are(alice_client, alice, conversation):
    other = Conversation.objects.create(user=alice, title="other")

    response = alice_client.post(f"/c/{other.pk}/delete/", {"next": f"/c/{conversation.pk}/"})

    assert response["Location"] == f"/c/{conversation.pk}/"
    assert not Conversation.objects.filter(pk=other.pk).exists()


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "", "OPEN"])
def test_deleting_the_open_conversation_or_with_a_foreign_next_goes_home(
    alice_client, conversation, next_url
):
    if next_url == "OPEN":
        next_url = f"/c/{conversation.pk}/"

    response = alice_client.post(f"/c/{conversation.pk}/delete/", {"next": next_url})

    assert response["Location"] == "/"


def test_delete_all_deletes_only_your_own_conversations(alice_client, alice, bob, add_message):
    for title in ("one", "two"):
        c = Conversation.objects.create(user=alice, title=title)
        add_message(c, "user", "hi")
    kept = Conversation.objects.create(user=bob, title="bob's")

    response = alice_client.post("/c/delete-all/")

    assert response["Location"] == "/"
    assert list(Conversation.objects.all()) == [kept]
    assert alice_client.get("/c/delete-all/").status_code == 405


def test_the_sidebar_items_carry_their_date_for_grouping(alice_client, conversation):
    page = _html(alice_client.get("/"))

    assert f'data-updated-at="{conversation.updated_at.isoformat()}"' in page
    assert "Delete all chats" in page


def test_the_empty_state_offers_suggestions_that_start_a_chat(alice_client, settings):
    settings.OPENAI_API_BASE_URL = "http://127.0.0.1:9/v1"
    page = _html(alice_client.get("/"))

    suggestions = re.findall(
        r'<form method="post" action="/c/new/">.*?name="text" value="([^"]+)".*?</form>',
        page,
        re.S,
    )
    assert len(suggestions) == 4
    assert "Explain recursion" in suggestions[0]


def test_no_suggestions_without_a_provider(alice_client, settings):
    settings.OPENAI_API_BASE_URL = ""
    assert 'class="suggestion"' not in _html(alice_client.get("/"))


def test_the_settings_panel_shows_the_instructions_and_their_switch(alice_client, conversation):
    from accounts.models import UserSettings

    html = alice_client.get(f"/c/{conversation.pk}/").text
    assert 'name="instructions_enabled" id="instructions-toggle" checked' in html
    assert "You have no custom instructions." in html

    UserSettings.objects.create(
        user=conversation.user, instructions_about="I garden.", instructions_style="Tersely."
    )
    conversation.instructions_enabled = False
    conversation.save()
    html = alice_client.get(f"/c/{conversation.pk}/").text
    assert 'name="instructions_enabled" id="instructions-toggle">' in html
    assert "I garden." in html
    assert "Tersely." in html
