"""Attachments where messages go (#21): an edit keeps its question's files, a regenerated
answer answers the same files, and every way of deleting leaves no file behind
(purge_attachments sweeps what is left anyway)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command
from django.test import Client

from catalog import clock
from conversations import actions, attachment_purge, organise
from conversations.context import build_context
from conversations.models import Attachment, Conversation, Message
from streaming import heartbeat
from tests.conversations.test_attachments import png, send

Capture = Callable[..., Any]


@pytest.fixture(autouse=True)
def _model_reads_images(settings: Any) -> None:
    # The test model reads images (catalog: OPENAI_API_IMAGE_MODELS), so posts may carry them.
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})


def all_stored() -> list[str]:
    """Every file in the attachments storage, in any folder."""
    storage = storages["attachments"]
    return sorted(attachment_purge._stored_names(storage))


def upload(client: Client, name: str, data: bytes) -> int:
    response = send(client, name, data)
    assert response.status_code == 201, response.content
    return int(response.json()["attachment"]["id"])


def finished(answer: Message) -> Conversation:
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.DONE)
    return Conversation.objects.get(pk=answer.conversation_id)


def chat_with_files(alice: Any, client: Client) -> Message:
    """A conversation whose first question has an image and a document; its answer."""
    ids = [upload(client, "shot.png", png()), upload(client, "notes.txt", b"owls hoot")]
    return actions.start_conversation(user=alice, text="look", attachments=ids)


@pytest.mark.django_db
def test_an_edit_keeps_the_questions_files_in_order(
    alice: Any, alice_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    answer = chat_with_files(alice, alice_client)
    question = answer.parent
    assert question is not None
    before = all_stored()
    with django_capture_on_commit_callbacks(execute=True):
        edited_answer = actions.edit_message(
            conversation=finished(answer), message_id=question.pk, text="look again"
        )
    edited = Message.objects.get(children=edited_answer)
    assert edited.pk != question.pk
    assert edited.attachment_count == 2
    copies = list(edited.attachments.all())
    originals = list(question.attachments.all())
    assert [a.name for a in copies] == ["shot.png", "notes.txt"]
    assert {a.pk for a in copies}.isdisjoint(a.pk for a in originals)
    assert [a.file.name for a in copies] == [a.file.name for a in originals]
    assert [a["name"] for a in edited.as_event()["attachments"]] == ["shot.png", "notes.txt"]
    assert all_stored() == before  # nothing written: the copies share the files
    # Each copy describes its file as the original does, every field of it.
    fields = [f.attname for f in Attachment._meta.concrete_fields]
    described = [f for f in fields if f not in ("id", "message_id", "position", "created_at")]
    assert [[getattr(a, f) for f in described] for a in copies] == [
        [getattr(a, f) for f in described] for a in originals
    ]


@pytest.mark.django_db
def test_an_edit_of_a_message_with_files_may_leave_its_text_empty(
    alice: Any, alice_client: Client
) -> None:
    answer = chat_with_files(alice, alice_client)
    assert answer.parent is not None
    edited_answer = actions.edit_message(
        conversation=finished(answer), message_id=answer.parent.pk, text=""
    )
    assert Message.objects.get(children=edited_answer).attachment_count == 2


@pytest.mark.django_db
def test_a_regenerated_answer_answers_the_question_with_its_files(
    alice: Any, alice_client: Client
) -> None:
    answer = chat_with_files(alice, alice_client)
    again = actions.regenerate(conversation=finished(answer), message_id=answer.pk)
    assert again.parent_id == answer.parent_id
    question = Message.objects.get(children=again)
    assert [a.name for a in question.attachment_list()] == ["shot.png", "notes.txt"]
    # The new answer's context has both files: the document's text, the image as a part.
    sent = json.dumps(build_context(Conversation.objects.get(pk=again.conversation_id), again))
    assert "owls hoot" in sent
    assert '"image_url"' in sent


@pytest.mark.django_db
def test_deleting_the_original_keeps_the_files_its_edit_shares_until_the_edit_goes(
    alice: Any, alice_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    answer = chat_with_files(alice, alice_client)
    assert answer.parent is not None
    used = Attachment.objects.for_user(alice.pk).stored_bytes()
    assert answer.parent.attachments.get(name="shot.png").thumbnail_size > 0
    conversation = finished(answer)
    edited_answer = actions.edit_message(
        conversation=conversation, message_id=answer.parent.pk, text="again"
    )
    Message.objects.filter(pk=edited_answer.pk).update(status=Message.Status.DONE)
    # The copies share the files: the storage counted for the user does not move.
    assert Attachment.objects.for_user(alice.pk).stored_bytes() == used
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_message(conversation=conversation, message_id=answer.parent.pk)
    assert len(all_stored()) == 3  # the image, its thumbnail, the document
    # Still counted, thumbnail included, now that only the edit's copies name them.
    assert Attachment.objects.for_user(alice.pk).stored_bytes() == used
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_message(conversation=conversation, message_id=edited_answer.parent_id)
    assert not Attachment.objects.exists()
    assert all_stored() == []


@pytest.mark.django_db
def test_deleting_a_message_deletes_the_files_of_what_follows_it(
    alice: Any, alice_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    answer = chat_with_files(alice, alice_client)
    conversation = finished(answer)
    later = actions.post_user_message(
        conversation=conversation,
        text="and this",
        attachments=[upload(alice_client, "more.md", b"# more")],
    )
    finished(later)
    assert len(all_stored()) == 4
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_message(conversation=conversation, message_id=answer.pk)
    assert Attachment.objects.count() == 2  # the first question's
    assert len(all_stored()) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["conversation", "all", "user"])
def test_every_deletion_deletes_every_file(
    alice: Any, alice_client: Client, django_capture_on_commit_callbacks: Capture, how: str
) -> None:
    conversation = finished(chat_with_files(alice, alice_client))
    finished(chat_with_files(alice, alice_client))
    upload(alice_client, "pending.png", png())
    assert len(all_stored()) == 8
    with django_capture_on_commit_callbacks(execute=True):
        if how == "conversation":
            organise.delete_conversation(conversation=conversation)
        elif how == "all":
            organise.delete_all_conversations(user=alice)
        else:
            alice.delete()
    if how == "conversation":
        assert len(all_stored()) == 5
    elif how == "all":
        assert len(all_stored()) == 2  # the upload not sent yet
    else:
        assert not Attachment.objects.exists()
        assert all_stored() == []


@pytest.mark.django_db
def test_purge_deletes_stale_uploads_and_files_no_row_names(
    alice: Any, alice_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    kept = finished(chat_with_files(alice, alice_client))
    upload(alice_client, "forgotten.png", png())
    storage = storages["attachments"]
    stray = storage.save("u999/left-behind.png", ContentFile(b"bytes no row names"))
    later = clock.now() + dt.timedelta(hours=25)
    with django_capture_on_commit_callbacks(execute=True):
        uploads, _files = attachment_purge.purge_orphans(now=later)
    assert uploads == 1
    assert stray not in all_stored()
    named = {
        name for a in Attachment.objects.all() for name in (a.file.name, a.thumbnail.name) if name
    }
    assert set(all_stored()) == named
    assert Attachment.objects.filter(message__conversation=kept).count() == 2


@pytest.mark.django_db
def test_purge_keeps_recent_uploads_and_files_on_their_way(
    alice: Any, alice_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    upload(alice_client, "just-now.png", png())
    # Bytes stored a moment before their row: an upload still on its way.
    storages["attachments"].save("u1/on-its-way.png", ContentFile(b"soon a row"))
    with django_capture_on_commit_callbacks(execute=True):
        assert attachment_purge.purge_orphans() == (0, 0)
    assert len(all_stored()) == 3


@pytest.mark.django_db
def test_the_command_and_the_heartbeat_delete_stale_uploads(
    alice: Any, alice_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    first = upload(alice_client, "a.png", png())
    second = upload(alice_client, "b.png", png())
    old = clock.now() - dt.timedelta(hours=25)
    Attachment.objects.filter(pk=first).update(created_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert heartbeat.purge_pending_attachments() == 1
    assert list(Attachment.objects.values_list("pk", flat=True)) == [second]
    stray = storages["attachments"].save("u1/stray.png", ContentFile(b"x"))
    path = storages["attachments"].path(stray)
    os.utime(path, (old.timestamp(), old.timestamp()))
    Attachment.objects.filter(pk=second).update(created_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_attachments", verbosity=0)
    assert not Attachment.objects.exists()
    assert all_stored() == []


@pytest.mark.django_db
def test_the_migration_gives_earlier_copies_their_thumbnails_size(
    alice: Any, alice_client: Client
) -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "conversations.migrations.0021_attachment_copies_thumbnail_size"
    )
    answer = chat_with_files(alice, alice_client)
    assert answer.parent is not None
    image = answer.parent.attachments.get(name="shot.png")
    conversation = finished(answer)
    edited_answer = actions.edit_message(
        conversation=conversation, message_id=answer.parent.pk, text="again"
    )
    copy = Message.objects.get(children=edited_answer).attachments.get(name="shot.png")
    # An upload of the same file, pending: another row naming the same thumbnail.
    pending = Attachment.objects.get(pk=copy.pk)
    pending.pk = None
    pending.message = None
    pending.save()
    both = Attachment.objects.filter(pk__in=[copy.pk, pending.pk])
    documents = Attachment.objects.filter(thumbnail="")
    assert documents.exists()

    # The size another row gives the same thumbnail.
    both.update(thumbnail_size=0)
    migration.fill(apps, None)
    assert set(both.values_list("thumbnail_size", flat=True)) == {image.thumbnail_size}

    # No other row gives it (the original row is gone): the storage's size.
    both.update(thumbnail_size=0)
    Attachment.objects.filter(pk=image.pk).update(thumbnail="gone/thumb.png", thumbnail_size=0)
    migration.fill(apps, None)
    assert set(both.values_list("thumbnail_size", flat=True)) == {image.thumbnail_size}
    assert set(documents.values_list("thumbnail_size", flat=True)) == {0}
    # A thumbnail the storage no longer has stays at 0.
    assert Attachment.objects.get(pk=image.pk).thumbnail_size == 0
