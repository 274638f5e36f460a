"""Each user's settings (accounts.UserSettings): the page, its checks, the avatar, and the
chat using them (defaults for new conversations, sampling sent upstream)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient, Client
from PIL import Image

from accounts.models import UserSettings, initials
from conversations import actions
from conversations.models import Conversation
from streaming.registry import registry

pytestmark = pytest.mark.django_db

User = get_user_model()

VALID = {
    "display_name": "Alice Liddell",
    "theme": "dark",
    "language": "zh-hans",
    "default_model": "fake-model-2",
    "system_prompt": "Answer like a pirate.",
    "instructions_about": "I teach chemistry.",
    "instructions_style": "Formal, with units.",
    "temperature": "0.3",
    "top_p": "0.9",
    "send_key": "ctrl-enter",
}


def _png(width: int = 300, height: int = 200, color: str = "red", extra: bytes = b"") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue() + extra


def _upload(data: bytes, name: str = "me.png", content_type: str = "image/png") -> Any:
    return SimpleUploadedFile(name, data, content_type=content_type)


def test_the_settings_page_needs_a_sign_in(client, alice):
    response = client.get("/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_settings_page_shows_every_control_labelled(alice_client):
    html = alice_client.get("/settings/").text
    for control in (
        "id_display_name",
        "id_avatar_upload",
        "id_language",
        "id_default_model",
        "id_system_prompt",
        "id_instructions_about",
        "id_instructions_style",
        "id_temperature",
        "id_top_p",
        "id_old_password",
        "id_new_password1",
    ):
        assert f'for="{control}"' in html, control
    assert "<legend>Theme</legend>" in html
    assert "<legend>Send a message with</legend>" in html


def test_saving_the_settings_stores_every_field(alice_client, alice):
    response = alice_client.post("/settings/", VALID)

    assert response.status_code == 302
    saved = UserSettings.objects.get(user=alice)
    assert saved.display_name == "Alice Liddell"
    assert saved.theme == "dark"
    assert saved.language == "zh-hans"
    assert saved.default_model == "fake-model-2"
    assert saved.system_prompt == "Answer like a pirate."
    assert saved.instructions_about == "I teach chemistry."
    assert saved.instructions_style == "Formal, with units."
    assert (saved.temperature, saved.top_p) == (0.3, 0.9)
    assert saved.send_key == "ctrl-enter"
    # And another device (another session) sees them.
    other = Client()
    other.force_login(alice)
    page = other.get("/").text
    assert 'data-theme="dark"' in page
    assert "Alice Liddell" in page
    assert 'data-send-key="ctrl-enter"' in page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", "2.5"),
        ("temperature", "-0.1"),
        ("top_p", "1.2"),
        ("theme", "neon"),
        ("default_model", "not-in-the-catalog"),
        ("send_key", "space"),
        ("language", "fr"),
        ("instructions_about", "x" * 1501),
        ("instructions_style", "x" * 1501),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_written(alice_client, alice, field, value):
    response = alice_client.post("/settings/", {**VALID, field: value})

    assert response.status_code == 400
    assert f'id="id_{field}_error"' in response.text or "field-error" in response.text
    assert not UserSettings.objects.filter(user=alice).exists()


def test_empty_sampling_values_send_nothing(alice_client, alice):
    alice_client.post("/settings/", {**VALID, "temperature": "", "top_p": ""})
    assert UserSettings.objects.get(user=alice).sampling() == {}


def test_the_default_model_offers_only_the_models_the_user_may_use(alice_client, settings):
    settings.OPENAI_API_MODELS = ["fake-model", "fake-model-2"]
    html = alice_client.get("/settings/").text
    assert '<option value="fake-model-2">fake-model-2</option>' in html
    assert "not-in-the-catalog" not in html


# --- Avatar ----------------------------------------------------------------------------


def test_an_uploaded_avatar_is_reencoded_as_a_small_square_png(alice_client, alice):
    # Trailing bytes after the image (a polyglot's payload) must not survive.
    upload = _upload(_png(extra=b"<script>alert(1)</script>"))
    response = alice_client.post("/settings/", {**VALID, "avatar_upload": upload})

    assert response.status_code == 302
    saved = UserSettings.objects.get(user=alice)
    stored = bytes(saved.avatar)
    assert b"<script>" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "PNG"
        assert image.size == (128, 128)
    assert saved.avatar_version == 1

    page = alice_client.get("/").text
    url = f"/accounts/avatar/{alice.pk}/1.png"
    assert f'src="{url}"' in page
    served = alice_client.get(url)
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served.content == stored


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"<html>not an image</html>", "me.png", "not an image Chatweb can read"),
        (b"GIF89a" + b"\x00" * 20, "me.gif", "not an image Chatweb can read"),
        (b"%PDF-1.4 a document", "me.pdf", "not an image Chatweb can read"),
    ],
)
def test_an_avatar_that_is_not_an_image_is_refused(alice_client, alice, data, name, message):
    response = alice_client.post("/settings/", {**VALID, "avatar_upload": _upload(data, name)})

    assert response.status_code == 400
    assert message in response.text
    assert not UserSettings.objects.filter(user=alice).exists()


def test_an_avatar_over_the_size_limit_is_refused(alice_client, alice):
    big = _png(extra=b"\x00" * (2 * 1024 * 1024))
    response = alice_client.post("/settings/", {**VALID, "avatar_upload": _upload(big)})

    assert response.status_code == 400
    assert "too large" in response.text
    assert not UserSettings.objects.filter(user=alice).exists()


def test_an_avatar_with_too_many_pixels_is_refused_before_decoding(alice_client, alice):
    # A tiny file that claims a huge canvas (a decompression bomb's shape).
    out = io.BytesIO()
    Image.new("1", (8000, 8000)).save(out, format="PNG")
    response = alice_client.post("/settings/", {**VALID, "avatar_upload": _upload(out.getvalue())})

    assert response.status_code == 400
    assert "too many pixels" in response.text


def test_removing_the_avatar_shows_initials_again(alice_client, alice):
    alice_client.post("/settings/", {**VALID, "avatar_upload": _upload(_png())})
    alice_client.post("/settings/", {**VALID, "remove_avatar": "on"})

    saved = UserSettings.objects.get(user=alice)
    assert bytes(saved.avatar) == b""
    page = alice_client.get("/").text
    assert "/accounts/avatar/" not in page
    assert '<span class="avatar" aria-hidden="true">AL</span>' in page
    assert alice_client.get(f"/accounts/avatar/{alice.pk}/1.png").status_code == 404


def test_avatars_need_a_sign_in(client, alice):
    assert client.get(f"/accounts/avatar/{alice.pk}/0.png").status_code == 302


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Ada Lovelace", "AL"), ("alice", "AL"), ("bob.smith", "BS"), ("", "?"), ("李雷", "李")],
)
def test_initials(name, expected):
    assert initials(name) == expected


# --- Theme ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("theme", "scheme"), [("light", "light"), ("dark", "dark"), ("system", "light dark")]
)
def test_the_theme_is_rendered_on_html_by_the_server(alice_client, alice, theme, scheme):
    UserSettings.objects.create(user=alice, theme=theme)
    for path in ("/", "/settings/"):
        html = alice_client.get(path).text
        assert f'data-theme="{theme}"' in html.split("<head>")[0]
        assert f'<meta name="color-scheme" content="{scheme}">' in html


# --- Password -----------------------------------------------------------------------------


def test_changing_the_password_keeps_this_session_signed_in(alice_client, alice):
    response = alice_client.post(
        "/settings/password/",
        {
            "old_password": "alice-password-1",
            "new_password1": "a-new-long-passphrase-7",
            "new_password2": "a-new-long-passphrase-7",
        },
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a-new-long-passphrase-7")
    assert alice_client.get("/settings/").status_code == 200


def test_a_wrong_old_password_changes_nothing(alice_client, alice):
    response = alice_client.post(
        "/settings/password/",
        {
            "old_password": "wrong",
            "new_password1": "a-new-long-passphrase-7",
            "new_password2": "a-new-long-passphrase-7",
        },
    )

    assert response.status_code == 400
    assert "Your old password was entered incorrectly" in response.text
    alice.refresh_from_db()
    assert alice.check_password("alice-password-1")


# --- The chat uses the settings ---------------------------------------------------------------


def test_a_new_conversation_starts_with_the_default_model_and_prompt(alice):
    UserSettings.objects.create(
        user=alice, default_model="fake-model-2", system_prompt="Answer like a pirate."
    )

    answer = actions.start_conversation(user=alice, text="hello")
    conversation = answer.conversation

    assert conversation.model == answer.model == "fake-model-2"
    assert conversation.system_prompt == "Answer like a pirate."


def test_a_chosen_model_wins_over_the_default(alice):
    UserSettings.objects.create(user=alice, default_model="fake-model-2")
    conversation = actions.start_conversation(
        user=alice, text="hi", model="fake-model"
    ).conversation
    assert conversation.model == "fake-model"


def test_the_new_chat_page_preselects_the_default_model_and_prompt(alice_client, alice):
    UserSettings.objects.create(user=alice, default_model="fake-model-2")
    html = alice_client.get("/").text
    assert '<option value="fake-model-2" selected>' in html


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_temperature_and_top_p_are_sent_upstream(alice, upstream, live):
    await UserSettings.objects.acreate(user=alice, temperature=0.2, top_p=0.5)
    client = AsyncClient()
    await client.aforce_login(alice)

    await client.post("/c/new/", {"text": "[[fake tokens=1]]"})
    for _, task in list(registry.running.values()):
        await task

    body = upstream.chat_requests[0].json
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.5
    conversation = await Conversation.objects.aget(user=alice)
    assert await sync_to_async(lambda: conversation.messages.count())() == 2


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_without_sampling_settings_nothing_extra_is_sent(alice, upstream, live):
    client = AsyncClient()
    await client.aforce_login(alice)

    await client.post("/c/new/", {"text": "[[fake tokens=1]]"})
    for _, task in list(registry.running.values()):
        await task

    body = upstream.chat_requests[0].json
    assert "temperature" not in body
    assert "top_p" not in body


def test_the_settings_page_does_not_jump_to_the_password(alice_client):
    assert "autofocus" not in alice_client.get("/settings/").text
