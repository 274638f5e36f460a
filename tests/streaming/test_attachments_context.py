"""What the model receives of a message's files (#21), as the fake upstream recorded it:
images as image_url parts (the stored image itself: its size and SHA-256), documents as
labelled text, notes for a text-only model, a too-long document cut (and the answer says
how much), and images refused for a model that does not read them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from catalog import tokens
from conversations import actions
from conversations import attachments as attaching
from conversations.attachment_models import Attachment, attachment_storage
from conversations.models import Message
from streaming import answers
from streaming.registry import registry
from tests.upstream import FakeUpstream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "green").save(out, "PNG")
    return out.getvalue()


async def upload(user: Any, name: str, data: bytes) -> Attachment:
    return await attaching.upload(user=user, uploaded=SimpleUploadedFile(name, data))


async def ask(user: Any, conversation: Any, text: str, files: list[Attachment]) -> Message:
    answer = await answers.post_message(
        user=user, conversation_id=conversation.pk, text=text, attachments=[f.pk for f in files]
    )
    await asyncio.wait_for(registry.running[answer.pk][1], 15)
    return await Message.objects.aget(pk=answer.pk)


def sent_messages(upstream: FakeUpstream) -> list[dict[str, Any]]:
    requests = upstream.chat_requests
    assert len(requests) == 1
    messages: list[dict[str, Any]] = requests[0].json["messages"]
    return messages


async def test_an_image_reaches_a_vision_model_as_the_stored_image(
    alice, conversation, upstream: FakeUpstream, settings
):
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})
    shot = await upload(alice, "shot.png", png(3000, 1500))
    answer = await ask(alice, conversation, "What is on it? [[fake tokens=3]]", [shot])
    assert answer.status == Message.Status.DONE
    question = sent_messages(upstream)[-1]
    assert question["role"] == "user"
    text, image = question["content"]
    assert text == {"type": "text", "text": "What is on it? [[fake tokens=3]]"}
    assert image["type"] == "image_url"
    head, _, encoded = image["image_url"]["url"].partition(",")
    assert head == "data:image/png;base64"
    data = base64.b64decode(encoded)
    assert hashlib.sha256(data).hexdigest() == shot.sha256
    assert Image.open(io.BytesIO(data)).size == (shot.width, shot.height) == (2048, 1024)


async def test_a_document_sits_in_the_context_labelled_with_its_name(
    alice, conversation, upstream: FakeUpstream
):
    notes = await upload(alice, "notes.md", b"# Owls\n\nThey hoot at night.")
    await ask(alice, conversation, "Summarise [[fake tokens=2]]", [notes])
    question = sent_messages(upstream)[-1]
    assert question["content"] == (
        'Summarise [[fake tokens=2]]\n\n<document name="notes.md">\n'
        "# Owls\n\nThey hoot at night.\n</document>"
    )


async def test_a_text_only_model_reads_a_note_in_place_of_an_older_image(
    alice, conversation, upstream: FakeUpstream, settings
):
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})
    shot = await upload(alice, "shot.png", png(40, 30))
    await ask(alice, conversation, "Look [[fake tokens=2]]", [shot])
    upstream.reset()
    settings.OPENAI_API_IMAGE_MODELS = frozenset()
    await ask(alice, conversation, "And now? [[fake tokens=2]]", [])
    messages = sent_messages(upstream)
    older = next(m for m in messages if m["role"] == "user")
    assert older["content"] == "Look [[fake tokens=2]]\n\n[image: shot.png]"
    assert all(isinstance(m["content"], str) for m in messages)


async def test_images_to_a_text_only_model_are_refused_and_nothing_is_written(
    alice, conversation, upstream: FakeUpstream
):
    shot = await upload(alice, "shot.png", png(40, 30))
    with pytest.raises(actions.ActionError) as refused:
        await answers.post_message(
            user=alice, conversation_id=conversation.pk, text="hi", attachments=[shot.pk]
        )
    assert refused.value.code == "model_text_only"
    assert not await Message.objects.aexists()
    assert (await Attachment.objects.aget(pk=shot.pk)).message_id is None  # still pending
    assert upstream.chat_requests == []


async def test_regenerating_or_editing_a_message_with_images_for_a_text_only_model_is_refused(
    alice, conversation, upstream: FakeUpstream, settings
):
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})
    shot = await upload(alice, "shot.png", png(40, 30))
    answer = await ask(alice, conversation, "Look [[fake tokens=2]]", [shot])
    count = await Message.objects.acount()
    with pytest.raises(actions.ActionError) as regenerated:
        await answers.regenerate(
            user=alice, conversation_id=conversation.pk, message_id=answer.pk, model="fake-model-2"
        )
    assert regenerated.value.code == "model_text_only"
    with pytest.raises(actions.ActionError) as edited:
        await answers.edit(
            user=alice, conversation_id=conversation.pk, message_id=answer.parent_id,
            text="Look again", model="fake-model-2",
        )  # fmt: skip
    assert edited.value.code == "model_text_only"
    assert await Message.objects.acount() == count


async def test_a_document_too_long_for_the_window_is_cut_and_the_answer_says_how_much(
    alice, conversation, upstream: FakeUpstream, settings
):
    settings.CONTEXT_TOKEN_BUDGET = 600
    settings.SYSTEM_PROMPT = ""
    text = " ".join(f"line{i}" for i in range(1500))
    long = await upload(alice, "long.txt", text.encode())
    answer = await ask(alice, conversation, "Read it [[fake tokens=2]]", [long])
    question = sent_messages(upstream)[-1]["content"]
    assert question.startswith('Read it [[fake tokens=2]]\n\n<document name="long.txt">\nline0 ')
    assert question.endswith("\n</document>")
    sent = question.split("\n", 3)[3].removesuffix("\n</document>")
    assert text.startswith(sent)
    assert len(sent) < len(text)
    [cut] = answer.context_cut
    assert cut["name"] == "long.txt"
    assert cut["percent"] == 100 * tokens.count(sent) // long.text_tokens
    assert 0 < cut["percent"] < 100
    # The whole prompt fits the window now (the cut is what made room).
    assert tokens.count_messages(sent_messages(upstream)) <= 600
    assert answer.as_event()["context_cut"] == [cut]
    client = Client()
    await sync_to_async(client.force_login)(alice)
    page = await sync_to_async(client.get)(f"/c/{conversation.pk}/")
    notice = f"Only {cut['percent']}% of long.txt fit in the model\u2019s context window."
    assert notice in page.content.decode()


async def test_a_document_that_fits_is_sent_whole_and_no_notice_is_stored(
    alice, conversation, upstream: FakeUpstream
):
    notes = await upload(alice, "notes.txt", b"short")
    answer = await ask(alice, conversation, "Read [[fake tokens=2]]", [notes])
    assert answer.context_cut == []
    assert "short\n</document>" in sent_messages(upstream)[-1]["content"]


async def test_an_image_whose_file_is_gone_is_a_note_and_the_answer_still_runs(
    alice, conversation, upstream: FakeUpstream, settings, caplog
):
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})
    shot = await upload(alice, "shot.png", png(40, 30))
    await sync_to_async(attachment_storage().delete)(shot.file.name)
    answer = await ask(alice, conversation, "Look [[fake tokens=2]]", [shot])
    assert answer.status == Message.Status.DONE
    assert sent_messages(upstream)[-1]["content"] == [
        {"type": "text", "text": "Look [[fake tokens=2]]"},
        {"type": "text", "text": "[image: shot.png]"},
    ]
    assert f"Attachment {shot.pk}: its file could not be read" in caplog.text
