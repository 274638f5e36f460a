"""Projects (#22, item 1): create, change, delete both ways, move in and out (and from two
tabs at once), the project page, new chats in a project, temporary chats kept out, and a
sidebar that still costs the same number of queries."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import AsyncClient, Client

from conversations import actions, projects, transfer
from conversations.actions import ActionError
from conversations.models import Conversation, Message, Project
from tests.conversations.test_views import (
    CONVERSATION_QUERIES,
    HOME_QUERIES,
    _bulk_conversations,
    _html,
    _listed,
    warm_catalog,
)

pytestmark = pytest.mark.django_db


def _project(user: Any, name: str = "Garden", **fields: Any) -> Project:
    return Project.objects.create(user=user, name=name, **fields)


# --- Create, change -----------------------------------------------------------------------


def test_creating_from_the_sidebar_form_opens_the_project_page(alice_client, alice):
    response = alice_client.post("/p/new/", {"name": "  Garden   plans "})
    project = Project.objects.get(user=alice)
    assert project.name == "Garden plans"
    assert response["Location"] == f"/p/{project.pk}/"
    page = _html(alice_client.get(response["Location"]))
    assert '<h1 id="chat-title">Garden plans</h1>' in page
    assert f'data-drop-project="{project.pk}"' in page


@pytest.mark.parametrize("name", ["", "   ", "\u200b\u200d", "x" * 81])
def test_a_blank_or_long_name_is_refused_and_nothing_written(alice_client, alice, name):
    response = alice_client.post("/p/new/", {"name": name}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "project_name"
    assert not Project.objects.exists()


def test_a_name_is_unique_per_user_not_per_site(alice, bob):
    projects.create_project(user=alice, name="Garden")
    with pytest.raises(ActionError) as refused:
        projects.create_project(user=alice, name="Garden")
    assert refused.value.code == "project_exists"
    projects.create_project(user=bob, name="Garden")
    assert Project.objects.filter(name="Garden").count() == 2


def test_renaming_to_another_projects_name_is_refused(alice):
    garden = _project(alice)
    _project(alice, "Kitchen")
    with pytest.raises(ActionError) as refused:
        projects.rename_project(project=garden, name="Kitchen")
    assert refused.value.code == "project_exists"
    garden.refresh_from_db()
    assert garden.name == "Garden"


def test_the_settings_form_renames_and_sets_instructions_and_model(alice_client, alice):
    project = _project(alice)
    alice_client.post(
        f"/p/{project.pk}/edit/",
        {"name": "Orchard", "instructions": " Latin names. ", "default_model": "fake-model-2"},
    )
    project.refresh_from_db()
    assert (project.name, project.instructions, project.default_model) == (
        "Orchard",
        "Latin names.",
        "fake-model-2",
    )


def test_a_model_the_user_may_not_use_is_refused(alice):
    project = _project(alice)
    with pytest.raises(ActionError) as refused:
        projects.update_project(
            project=project, name="Garden", instructions="", default_model="gpt-secret"
        )
    assert refused.value.code == "unknown_model"
    project.refresh_from_db()
    assert project.default_model == ""


def test_another_users_project_is_a_404_everywhere(client, alice, bob):
    project = _project(alice)
    client.force_login(bob)
    bob_client = client
    assert bob_client.get(f"/p/{project.pk}/").status_code == 404
    assert bob_client.post(f"/p/{project.pk}/edit/", {"name": "Mine"}).status_code == 404
    assert (
        bob_client.post(f"/p/{project.pk}/delete/", {"conversations": "delete"}).status_code == 404
    )
    assert Project.objects.get().name == "Garden"


# --- The sidebar and the project page -----------------------------------------------------


def test_conversations_in_a_project_leave_the_sidebar_list_for_the_project_page(
    alice_client, alice
):
    project = _project(alice)
    inside = Conversation.objects.create(user=alice, title="Roses", project=project)
    outside = Conversation.objects.create(user=alice, title="Taxes")
    home = _html(alice_client.get("/"))
    assert _listed(home) == [outside.pk]
    assert f'href="/p/{project.pk}/"' in home
    page = _html(alice_client.get(f"/p/{project.pk}/"))
    listed = re.findall(r'<li data-conversation-id="(\d+)"', page)
    assert listed == [str(inside.pk)]
    # Its conversation's page names the project and marks it in the sidebar.
    chat = _html(alice_client.get(f"/c/{inside.pk}/"))
    assert "data-project-crumb" in chat
    assert re.search(rf'<li class="conv project active" data-project-id="{project.pk}"', chat)


@pytest.mark.parametrize("count", [20, 2000])
def test_the_sidebar_costs_the_same_with_many_projects_and_chats_in_them(
    alice_client, alice, django_assert_num_queries, count
):
    ordered = _bulk_conversations(alice, count)
    garden = [_project(alice, f"Project {n}") for n in range(count // 10)]
    in_projects = ordered[1::2]
    for n, conversation in enumerate(in_projects):
        conversation.project = garden[n % len(garden)]
    Conversation.objects.bulk_update(in_projects, ["project"])
    Project.objects.bulk_create(Project(user=alice, name=f"Extra {n}") for n in range(5))
    warm_catalog()
    with django_assert_num_queries(HOME_QUERIES):
        home = _html(alice_client.get("/"))
    outside = [c.pk for c in ordered[::2]]
    assert _listed(home) == outside[:28]
    with django_assert_num_queries(CONVERSATION_QUERIES - 1):  # no messages to load
        page = _html(alice_client.get(f"/c/{in_projects[0].pk}/"))
    assert _listed(page) == outside[:28]
    assert page.count('class="conv project') == len(garden) + 5


def test_load_more_still_walks_every_chat_outside_projects_once(alice_client, alice):
    ordered = _bulk_conversations(alice, 70)
    project = _project(alice)
    Conversation.objects.filter(pk__in=[c.pk for c in ordered[::3]]).update(project=project)
    page = _html(alice_client.get("/"))
    seen = _listed(page)
    while (more := re.search(r'data-load-more="([^"]+)"', page)) is not None:
        page = _html(alice_client.get(more[1].replace("&amp;", "&")))
        seen += _listed(page)
    assert seen == [c.pk for n, c in enumerate(ordered) if n % 3]


# --- Moving -------------------------------------------------------------------------------


def test_moving_in_and_out_from_the_menu_form(alice_client, alice):
    project = _project(alice)
    chat = Conversation.objects.create(user=alice, title="Roses")
    response = alice_client.post(f"/c/{chat.pk}/project/", {"project": project.pk, "next": "/"})
    assert response["Location"] == "/"
    chat.refresh_from_db()
    assert chat.project == project
    response = alice_client.post(
        f"/c/{chat.pk}/project/", {"project": ""}, HTTP_ACCEPT="application/json"
    )
    assert response.json() == {"ok": True, "project": None}
    chat.refresh_from_db()
    assert chat.project is None


@pytest.mark.parametrize("value", ["99999", "abc", "-1", "²"])
def test_moving_into_a_project_that_is_not_yours_is_refused(alice_client, alice, bob, value):
    bobs = _project(bob)
    chat = Conversation.objects.create(user=alice, title="Roses")
    for target in (value, str(bobs.pk)):
        response = alice_client.post(
            f"/c/{chat.pk}/project/", {"project": target}, HTTP_ACCEPT="application/json"
        )
        assert response.status_code == 404
        assert response.json()["code"] == "project_not_found"
    chat.refresh_from_db()
    assert chat.project is None


def test_a_temporary_chat_cannot_be_moved_into_or_started_in_a_project(alice_client, alice):
    project = _project(alice)
    temporary = actions.start_conversation(user=alice, text="Hi", temporary=True).conversation
    response = alice_client.post(
        f"/c/{temporary.pk}/project/", {"project": project.pk}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "temporary_not_in_project"
    temporary.refresh_from_db()
    assert temporary.project is None
    before = Conversation.objects.count()
    with pytest.raises(ActionError) as refused:
        actions.start_conversation(user=alice, text="Hi", temporary=True, project_id=project.pk)
    assert refused.value.code == "temporary_not_in_project"
    assert Conversation.objects.count() == before
    # The project page offers no temporary toggle.
    assert 'id="temporary-toggle"' not in _html(alice_client.get(f"/p/{project.pk}/"))


def test_two_tabs_moving_the_same_chat_last_write_wins_without_an_error(alice, client):
    garden, kitchen = _project(alice), _project(alice, "Kitchen")
    chat = Conversation.objects.create(user=alice, title="Roses")
    first, second = Client(), Client()
    first.force_login(alice)
    second.force_login(alice)
    # Both tabs drew the page with the chat outside any project, then both move it.
    for tab in (first, second):
        assert f'data-conversation-id="{chat.pk}"' in _html(tab.get("/"))
    one = first.post(
        f"/c/{chat.pk}/project/", {"project": garden.pk}, HTTP_ACCEPT="application/json"
    )
    two = second.post(
        f"/c/{chat.pk}/project/", {"project": kitchen.pk}, HTTP_ACCEPT="application/json"
    )
    assert one.json()["ok"]
    assert two.json()["ok"]
    for tab in (first, second):  # After a reload both show the last move's outcome.
        assert _listed(_html(tab.get("/"))) == []
        assert f'data-conversation-id="{chat.pk}"' in _html(tab.get(f"/p/{kitchen.pk}/"))
        assert f'data-conversation-id="{chat.pk}"' not in _html(tab.get(f"/p/{garden.pk}/"))


# --- New chats in a project ---------------------------------------------------------------


def test_a_new_chat_in_a_project_gets_its_default_model(alice):
    project = _project(alice, default_model="fake-model-2")
    answer = actions.start_conversation(user=alice, text="Hi", project_id=str(project.pk))
    assert answer.conversation.project == project
    assert answer.conversation.model == "fake-model-2"
    chosen = actions.start_conversation(
        user=alice, text="Hi", project_id=project.pk, model="fake-model"
    )
    assert chosen.conversation.model == "fake-model"


def test_the_project_pages_composer_starts_in_it_with_its_model_chosen(alice_client, alice):
    project = _project(alice, default_model="fake-model-2")
    page = _html(alice_client.get(f"/p/{project.pk}/"))
    assert f'<input type="hidden" name="project" value="{project.pk}">' in page
    assert re.search(r'<option value="fake-model-2" selected>', page)


def test_starting_in_another_users_project_is_refused(alice, bob):
    bobs = _project(bob)
    with pytest.raises(ActionError) as refused:
        actions.start_conversation(user=alice, text="Hi", project_id=bobs.pk)
    assert refused.value.code == "project_not_found"
    assert not Conversation.objects.filter(user=alice).exists()


# --- Deleting -----------------------------------------------------------------------------


def _with_chats(user: Any, add_message: Any) -> tuple[Project, list[Conversation]]:
    project = _project(user)
    chats = [
        Conversation.objects.create(user=user, title=f"c{n}", project=project) for n in range(3)
    ]
    for chat in chats:
        add_message(chat, "user", "hello")
    return project, chats


def test_deleting_and_keeping_the_chats_puts_them_back_in_the_list(
    alice_client, alice, add_message
):
    project, chats = _with_chats(alice, add_message)
    response = alice_client.post(f"/p/{project.pk}/delete/", {"conversations": "keep"})
    assert response["Location"] == "/"
    assert not Project.objects.exists()
    assert sorted(_listed(_html(alice_client.get("/")))) == sorted(c.pk for c in chats)
    assert Message.objects.count() == 3


def test_deleting_with_the_chats_deletes_them_and_only_them(alice_client, alice, add_message):
    project, _chats = _with_chats(alice, add_message)
    other = Conversation.objects.create(user=alice, title="other")
    alice_client.post(f"/p/{project.pk}/delete/", {"conversations": "delete"})
    assert not Project.objects.exists()
    assert list(Conversation.objects.all()) == [other]
    assert not Message.objects.exists()


@pytest.mark.parametrize("choice", [None, "", "both"])
def test_deleting_without_a_choice_is_refused_and_nothing_written(
    alice_client, alice, add_message, choice
):
    project, _chats = _with_chats(alice, add_message)
    data = {} if choice is None else {"conversations": choice}
    assert alice_client.post(f"/p/{project.pk}/delete/", data).status_code == 400
    assert Project.objects.count() == 1
    assert Conversation.objects.filter(project=project).count() == 3


# --- Search -------------------------------------------------------------------------------


def test_the_search_page_can_be_kept_to_a_project(alice_client, alice, bob, add_message):
    project = _project(alice)
    inside = Conversation.objects.create(user=alice, title="inside", project=project)
    outside = Conversation.objects.create(user=alice, title="outside")
    for c in (inside, outside):
        add_message(c, "user", "about roses")

    def found(**params: Any) -> set[int]:
        response = alice_client.get(
            "/search/", {"q": "roses", **params}, HTTP_ACCEPT="application/json"
        )
        return {hit["conversation_id"] for hit in response.json()["results"]}

    assert found() == {inside.pk, outside.pk}
    assert found(project=project.pk) == {inside.pk}
    page = _html(alice_client.get("/search/", {"q": "roses", "project": project.pk}))
    assert f'<option value="{project.pk}" selected>' in page
    bobs = _project(bob, "Bob's")
    assert alice_client.get("/search/", {"q": "roses", "project": bobs.pk}).status_code == 404


# --- Export and import --------------------------------------------------------------------


def test_the_export_carries_the_project_and_the_import_makes_missing_ones(alice, bob, add_message):
    garden = _project(alice, instructions="Latin names.", default_model="fake-model-2")
    inside = Conversation.objects.create(user=alice, title="Roses", project=garden)
    add_message(inside, "user", "hello")
    Conversation.objects.create(user=alice, title="Taxes")
    document = transfer.export_user(user=alice)
    assert [c["project"] for c in document["conversations"]] == ["Garden", None]
    assert document["projects"] == [
        {"name": "Garden", "instructions": "Latin names.", "default_model": "fake-model-2"}
    ]
    raw = json.dumps(document).encode()

    roses, taxes = transfer.import_file(user=bob, raw=raw)
    made = Project.objects.get(user=bob)
    assert (made.name, made.instructions, made.default_model) == (
        "Garden",
        "Latin names.",
        "fake-model-2",
    )
    assert roses.project == made
    assert taxes.project is None
    # Imported again, it goes into the same project: none is made twice.
    again, _ = transfer.import_file(user=bob, raw=raw)
    assert again.project == made
    assert Project.objects.filter(user=bob).count() == 1


def test_an_existing_project_of_that_name_is_used_as_it_is(alice, bob):
    bobs = _project(bob, instructions="Bob's own.")
    document = {
        "format": "chatweb-export",
        "version": 1,
        "conversations": [{"title": "Roses", "project": " Garden ", "messages": []}],
    }
    (roses,) = transfer.import_file(user=bob, raw=json.dumps(document).encode())
    assert roses.project == bobs
    bobs.refresh_from_db()
    assert bobs.instructions == "Bob's own."


def test_a_bad_projects_list_is_refused_and_nothing_written(bob):
    document = {
        "format": "chatweb-export",
        "version": 1,
        "projects": "Garden",
        "conversations": [{"title": "Roses", "project": "Garden", "messages": []}],
    }
    with pytest.raises(ActionError):
        transfer.import_file(user=bob, raw=json.dumps(document).encode())
    assert not Project.objects.exists()
    assert not Conversation.objects.exists()


# --- The admin ----------------------------------------------------------------------------


def test_the_admin_lists_projects_and_the_project_of_each_conversation(admin_client, alice):
    garden = _project(alice)
    Conversation.objects.create(user=alice, title="Roses", project=garden)
    Conversation.objects.create(user=alice, title="Taxes")
    projects_page = admin_client.get("/admin/conversations/project/")
    assert projects_page.status_code == 200
    assert list(projects_page.context["cl"].result_list) == [garden]
    assert projects_page.context["cl"].result_list[0].conversation_count == 1
    listed = admin_client.get("/admin/conversations/conversation/", {"project__isnull": "False"})
    assert [c.title for c in listed.context["cl"].result_list] == ["Roses"]
    assert "Garden" in _html(listed)
    assert admin_client.get(f"/admin/conversations/project/{garden.pk}/change/").status_code == 200


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_refused_new_chat_in_a_project_shows_the_project_page_again(alice, live, settings):
    settings.OPENAI_API_BASE_URL = "http://127.0.0.1:9/v1"  # Configured, never reached.
    project = await Project.objects.acreate(user=alice, name="Garden")
    inside = await Conversation.objects.acreate(user=alice, title="Roses", project=project)
    client = AsyncClient()
    await client.aforce_login(alice)
    response = await client.post("/c/new/", {"text": "   ", "project": project.pk})
    assert response.status_code == 400
    page = _html(response)
    assert f'<input type="hidden" name="project" value="{project.pk}">' in page
    assert f'<li data-conversation-id="{inside.pk}"' in page
    temporary = await client.post(
        "/c/new/", {"text": "Hi", "project": project.pk, "temporary": "1"}
    )
    assert temporary.status_code == 400
    assert "A temporary chat cannot be put in a project." in _html(temporary)
    assert await Conversation.objects.acount() == 1
    assert await Message.objects.acount() == 0
