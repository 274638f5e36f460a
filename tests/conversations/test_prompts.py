"""The prompt library: add/edit/delete, chatgpt-web's two JSON shapes, published prompts."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conversations import prompts
from conversations.actions import ActionError
from conversations.models import Prompt

pytestmark = pytest.mark.django_db


def test_add_edit_delete(alice):
    prompt = prompts.add(user=alice, title="  Translator ", text="Translate to French:")
    prompts.edit(prompt=prompt, title="French", text="Translate into French:")

    prompt.refresh_from_db()
    assert (prompt.title, prompt.text) == ("French", "Translate into French:")
    prompts.delete(prompt=prompt)
    assert not Prompt.objects.exists()


@pytest.mark.parametrize(("title", "text"), [("", "x"), ("x", "  "), (None, "x"), ("x" * 101, "x")])
def test_a_bad_prompt_is_refused(alice, title, text):
    with pytest.raises(ActionError):
        prompts.add(user=alice, title=title, text=text)
    assert not Prompt.objects.exists()


def test_titles_are_unique_per_user(alice, bob):
    prompts.add(user=alice, title="Same", text="a")
    prompts.add(user=bob, title="Same", text="b")

    with pytest.raises(ActionError, match="already have"):
        prompts.add(user=alice, title="Same", text="c")


@pytest.mark.parametrize(("key", "value"), [("key", "value"), ("act", "prompt")])
def test_import_both_chatgpt_web_shapes_skipping_what_is_there(alice, key, value):
    prompts.add(user=alice, title="Existing", text="Old text")
    raw = json.dumps(
        [
            {key: "Linux Terminal", value: "I want you to act as a linux terminal."},
            {key: "Existing", value: "Different text"},
            {key: "Other title", value: "Old text"},
            {key: "Poet", value: "Act as a poet."},
        ]
    ).encode()

    added, skipped = prompts.import_json(user=alice, raw=raw)

    assert (added, skipped) == (2, 2)
    assert sorted(Prompt.objects.values_list("title", flat=True)) == [
        "Existing",
        "Linux Terminal",
        "Poet",
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"[{",
        b"{}",
        b"[]",
        b'[{"name": "x"}]',
        b'[{"key": "x"}]',
        b'[{"key": "x", "value": ""}]',
        b'[{"key": "ok", "value": "fine"}, {"key": "x"}]',
    ],
)
def test_a_malformed_prompt_file_is_refused_whole(alice, raw):
    with pytest.raises(ActionError):
        prompts.import_json(user=alice, raw=raw)
    assert not Prompt.objects.exists()


@pytest.mark.parametrize(
    ("shape", "key", "value"), [("key", "key", "value"), ("act", "act", "prompt")]
)
def test_export_round_trips(alice, bob, shape, key, value):
    prompts.add(user=alice, title="Poet", text="Act as a poet.")

    exported = prompts.export(user=alice, shape=shape)
    prompts.import_json(user=bob, raw=json.dumps(exported).encode())

    assert exported == [{key: "Poet", value: "Act as a poet."}]
    assert list(Prompt.objects.filter(user=bob).values_list("title", "text")) == [
        ("Poet", "Act as a poet.")
    ]


def test_published_prompts_reach_everyone_but_only_the_owner_edits(alice, bob):
    mine = prompts.add(user=alice, title="Mine", text="a")
    theirs = prompts.add(user=bob, title="Bob's", text="b")
    published = prompts.add(user=bob, title="House style", text="c")
    Prompt.objects.filter(pk=published.pk).update(is_public=True)

    assert {p.title for p in prompts.visible(user=alice)} == {"Mine", "House style"}
    assert prompts.get_own(user=alice, pk=mine.pk) == mine
    with pytest.raises(ActionError):
        prompts.get_own(user=alice, pk=published.pk)
    with pytest.raises(ActionError):
        prompts.get_own(user=alice, pk=theirs.pk)


def test_the_pages(alice_client, alice, bob):
    alice_client.post("/prompts/", {"title": "Poet", "text": "Act as a poet."})
    (prompt,) = Prompt.objects.filter(user=alice)
    bob_client = Client()
    bob_client.force_login(bob)

    picker = alice_client.get("/prompts/picker.json").json()
    assert picker["prompts"] == [
        {"id": prompt.pk, "title": "Poet", "text": "Act as a poet.", "published": False}
    ]
    assert bob_client.get("/prompts/picker.json").json()["prompts"] == []
    assert bob_client.post(f"/prompts/{prompt.pk}/delete/").status_code == 404
    assert (
        bob_client.post(f"/prompts/{prompt.pk}/edit/", {"title": "x", "text": "y"}).status_code
        == 404
    )

    alice_client.post(f"/prompts/{prompt.pk}/edit/", {"title": "Bard", "text": "Act as a bard."})
    assert Prompt.objects.get().title == "Bard"
    export = alice_client.get("/prompts/export.json?shape=act")
    assert json.loads(export.content) == [{"act": "Bard", "prompt": "Act as a bard."}]
    refused = alice_client.post("/prompts/import/", {"file": SimpleUploadedFile("p.json", b"[{")})
    assert refused.status_code == 400
    assert "not valid JSON" in refused.content.decode()
    alice_client.post(f"/prompts/{prompt.pk}/delete/")
    assert not Prompt.objects.exists()


def test_users_cannot_publish_through_the_page(alice_client):
    alice_client.post("/prompts/", {"title": "Poet", "text": "x", "is_public": "on"})

    assert Prompt.objects.get().is_public is False


def test_an_admin_publishes_in_the_admin(admin_client, admin_user, alice_client):
    prompt = prompts.add(user=admin_user, title="House style", text="Be kind.")

    response = admin_client.get(f"/admin/conversations/prompt/{prompt.pk}/change/")

    assert response.status_code == 200
    assert 'name="is_public"' in response.content.decode()
    Prompt.objects.filter(pk=prompt.pk).update(is_public=True)
    titles = [p["title"] for p in alice_client.get("/prompts/picker.json").json()["prompts"]]
    assert titles == ["House style"]
