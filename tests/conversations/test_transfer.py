"""Export (JSON, Markdown) and import (Chatweb's own export, chatgpt-web's history file)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from conversations import transfer
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent.parent / "fixtures" / "chat-store_2024-11-22.json"


def _tree(conversation: Conversation) -> list[tuple[Any, ...]]:
    """A conversation's messages as comparable tuples, parents as positions."""
    messages = list(conversation.messages.order_by("created_at", "id"))
    position: dict[int | None, int] = {m.pk: i for i, m in enumerate(messages)}
    leaf = position.get(conversation.current_leaf_id) if conversation.current_leaf_id else None
    return [
        (
            position.get(m.parent_id),
            m.role,
            m.content,
            m.status,
            m.error,
            m.model,
            m.created_at,
            m.usage(),
            leaf,
        )
        for m in messages
    ]


@pytest.fixture
def branched(alice, add_message):
    conversation = Conversation.objects.create(
        user=alice, title="Branched", model="fake-model", system_prompt="Be terse."
    )
    q = add_message(conversation, "user", "Question?")
    add_message(conversation, "assistant", "Old answer", parent=q, model="fake-model")
    new = add_message(
        conversation,
        "assistant",
        "New **answer**",
        parent=q,
        model="fake-model-2",
        prompt_tokens=3,
        completion_tokens=4,
        total_tokens=7,
    )
    add_message(conversation, "user", "Thanks", parent=new)
    return conversation


def test_a_round_trip_gives_the_same_conversations_branches_included(alice, bob, branched):
    document = transfer.export_user(user=alice)

    (copy,) = transfer.import_file(user=bob, raw=json.dumps(document).encode())

    assert _tree(copy) == _tree(branched)
    assert (copy.title, copy.model, copy.system_prompt) == ("Branched", "fake-model", "Be terse.")
    assert copy.instructions_enabled is True


def test_the_custom_instructions_switch_travels_and_is_on_when_missing(alice, bob, branched):
    branched.instructions_enabled = False
    branched.save()
    document = transfer.export_user(user=alice)
    assert document["conversations"][0]["instructions_enabled"] is False

    (copy,) = transfer.import_file(user=bob, raw=json.dumps(document).encode())
    assert copy.instructions_enabled is False

    del document["conversations"][0]["instructions_enabled"]  # an export from before #22
    (older,) = transfer.import_file(user=bob, raw=json.dumps(document).encode())
    assert older.instructions_enabled is True
    assert copy.messages.get(content="New **answer**").html == "<p>New <strong>answer</strong></p>"


def test_the_export_of_all_is_a_fixed_number_of_queries(
    alice, add_message, django_assert_num_queries
):
    for i in range(5):
        c = Conversation.objects.create(user=alice, title=f"c{i}")
        add_message(c, "user", "hi")

    # Two reads, and the export's audit entry.
    with django_assert_num_queries(3):
        document = transfer.export_user(user=alice)

    assert len(document["conversations"]) == 5


def test_the_export_holds_only_the_users_own(alice, bob, branched):
    assert transfer.export_user(user=bob)["conversations"] == []


def test_markdown_export_is_the_active_branch(branched):
    text = transfer.export_markdown(conversation=branched)

    assert text.startswith("# Branched\n")
    assert "## You\n\nQuestion?" in text
    assert "New **answer**" in text
    assert "Old answer" not in text


def test_the_chatgpt_web_history_file_comes_in(alice):
    conversations = transfer.import_file(user=alice, raw=FIXTURE.read_bytes())

    titles = [c.title for c in conversations]
    assert titles == [
        "排序算法",
        "Trip to Lisbon",
        "Failing request",
    ]  # the empty New Chat is skipped
    sort, _trip, failing = conversations
    path = [(m.role, m.status) for m in failing.active_path()]
    assert path == [
        ("user", "done"),
        ("assistant", "error"),
        ("user", "done"),
        ("assistant", "interrupted"),
    ]
    error = failing.active_path()[1]
    assert error.error.startswith("Request failed with status code 429")
    assert error.content == ""
    assert len(sort.active_path()) == 4
    assert "<code" in sort.active_path()[1].html


def test_locale_dates_are_read_and_odd_ones_fall_back(alice):
    before = timezone.now()
    sort, trip, _failing = transfer.import_file(user=alice, raw=FIXTURE.read_bytes())

    tz = timezone.get_current_timezone()
    sort_times = [m.created_at.astimezone(tz).replace(tzinfo=None) for m in sort.active_path()]
    assert sort_times[0] == dt.datetime(2024, 11, 21, 9, 15, 2)  # zh-CN 2024/11/21 09:15:02
    assert sort_times[2] == dt.datetime(2024, 11, 21, 14, 1, 44)  # zh-CN 下午2:01:44
    trip_times = [m.created_at for m in trip.active_path()]
    assert trip_times[0].astimezone(tz).replace(tzinfo=None) == dt.datetime(2024, 11, 21, 15, 4, 5)
    assert trip_times[2] >= before  # "not a date at all": the import time
    assert trip_times == sorted(trip_times)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("11/21/2024, 3:04:05 PM", dt.datetime(2024, 11, 21, 15, 4, 5)),
        ("11/21/2024, 3:04:05\u202fPM", dt.datetime(2024, 11, 21, 15, 4, 5)),
        ("2024/11/21 14:01:44", dt.datetime(2024, 11, 21, 14, 1, 44)),
        ("2024/11/21 上午9:01:44", dt.datetime(2024, 11, 21, 9, 1, 44)),
        ("21.11.2024, 14:01:44", dt.datetime(2024, 11, 21, 14, 1, 44)),
        ("21/11/2024, 14:01:44", dt.datetime(2024, 11, 21, 14, 1, 44)),
        ("2024-11-21T14:01:44", dt.datetime(2024, 11, 21, 14, 1, 44)),
    ],
)
def test_locale_date_formats(value, expected):
    now = timezone.now()
    parsed = transfer.parse_locale_datetime(value, fallback=now)

    assert parsed.astimezone(timezone.get_current_timezone()).replace(tzinfo=None) == expected


@pytest.mark.parametrize(
    "value", [None, 5, "", "yesterday", "13/45/2024, 99:00:00", "1800/01/01 00:00:00", "x" * 100]
)
def test_odd_dates_fall_back(value):
    now = timezone.now()

    assert transfer.parse_locale_datetime(value, fallback=now) == now


def _refused(user: Any, raw: bytes) -> str:
    with pytest.raises(transfer.ImportRefused) as info:
        transfer.import_file(user=user, raw=raw)
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()
    return info.value.message


def test_a_truncated_file_is_refused_and_nothing_written(alice):
    raw = FIXTURE.read_bytes()

    assert "not valid JSON" in _refused(alice, raw[: len(raw) // 2])


def test_a_deeply_nested_file_is_refused(alice):
    assert "nests too deeply" in _refused(alice, b"[" * 100_000 + b"]" * 100_000)
    node: dict[str, Any] = {"text": "x"}
    deep = {"data": {"history": [], "chat": [{"uuid": 1, "data": [node]}]}}
    for _ in range(40):
        node["o"] = {}
        node = node["o"]
    assert "nests too deeply" in _refused(alice, json.dumps(deep).encode())


def test_a_huge_file_is_refused(alice, settings):
    settings.IMPORT_MAX_BYTES = 1000

    assert "IMPORT_MAX_BYTES" in _refused(alice, FIXTURE.read_bytes())


def test_a_bad_message_late_in_the_file_writes_nothing(alice):
    document = json.loads(FIXTURE.read_bytes())
    document["data"]["chat"][2]["data"][3]["text"] = {"not": "text"}

    assert "not text" in _refused(alice, json.dumps(document).encode())


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "The text of message 4 of chat 3 is not text."),
        ("zh-hans", "第 3 个聊天的第 4 条消息的文本不是字符串。"),
    ],
)
def test_a_refusal_names_the_bad_entry_in_the_readers_language(alice, language, expected):
    document = json.loads(FIXTURE.read_bytes())
    document["data"]["chat"][2]["data"][3]["text"] = {"not": "text"}

    with translation.override(language):
        assert _refused(alice, json.dumps(document).encode()) == expected


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "neither a Chatweb export nor a chatgpt-web"),
        (b'{"data": {"chat": 3, "history": []}}', "must be lists"),
        (b'{"format": "chatweb-export", "version": 9, "conversations": []}', "version 9"),
        (b'{"format": "chatweb-export", "version": 1, "conversations": []}', "no conversation"),
        (
            b'{"format": "chatweb-export", "version": 1, "conversations": [{"messages": '
            b'[{"id": 1, "parent": 2, "role": "user"}]}]}',
            "does not come before it",
        ),
        (
            b'{"format": "chatweb-export", "version": 1, "conversations": [{"messages": '
            b'[{"id": 1, "role": "wizard"}]}]}',
            "unknown role",
        ),
    ],
)
def test_malformed_files_are_refused_with_a_clear_message(alice, raw, needle):
    assert needle in _refused(alice, raw)


def test_imported_html_is_rendered_again_never_trusted(alice, bob, branched):
    document = transfer.export_user(user=alice)
    document["conversations"][0]["messages"][1]["content"] = "<script>alert(1)</script>hi"
    document["conversations"][0]["messages"][1]["html"] = "<script>alert(1)</script>"

    (copy,) = transfer.import_file(user=bob, raw=json.dumps(document).encode())

    assert "<script" not in copy.messages.get(content__endswith="hi").html


# --- Views --------------------------------------------------------------------------------


def test_the_import_page_imports_and_redirects(alice_client, alice):
    response = alice_client.post(
        "/import/", {"file": SimpleUploadedFile("chat-store_2024-11-22.json", FIXTURE.read_bytes())}
    )

    assert response.status_code == 302
    assert Conversation.objects.filter(user=alice).count() == 3


def test_the_import_page_shows_why_a_file_is_refused(alice_client, settings):
    settings.IMPORT_MAX_BYTES = 100

    response = alice_client.post(
        "/import/", {"file": SimpleUploadedFile("x.json", FIXTURE.read_bytes())}
    )

    assert response.status_code == 400
    assert "the import limit is 100 bytes" in response.content.decode()
    assert not Conversation.objects.exists()


def test_exports_download_and_stay_private(alice_client, branched, bob):
    one = alice_client.get(f"/c/{branched.pk}/export.json")
    md = alice_client.get(f"/c/{branched.pk}/export.md")
    everything = alice_client.get("/export/")

    assert one["Content-Disposition"].startswith("attachment;")
    assert json.loads(b"".join(one.streaming_content))["conversations"][0]["title"] == "Branched"
    assert md.content.decode().startswith("# Branched")
    assert len(json.loads(b"".join(everything.streaming_content))["conversations"]) == 1
    bob_client = type(alice_client)()
    bob_client.force_login(bob)
    assert bob_client.get(f"/c/{branched.pk}/export.json").status_code == 404
    assert bob_client.get(f"/c/{branched.pk}/export.md").status_code == 404


def test_nul_and_lone_surrogates_in_a_file_are_stored_cleaned(alice):
    raw = (
        b'{"data": {"history": [{"uuid": 1, "title": "bad \\ud800 title"}], "chat": [{"uuid": 1,'
        b' "data": [{"dateTime": "x", "text": "a\\u0000b \\udfff", "inversion": true},'
        b' {"dateTime": "x", "text": "**ok** \\ud800", "inversion": false}]}]}}'
    )

    (conversation,) = transfer.import_file(user=alice, raw=raw)

    question, answer = conversation.active_path()
    assert conversation.title == "bad \ufffd title"
    assert question.content == "ab \ufffd"
    assert answer.html == "<p><strong>ok</strong> \ufffd</p>"


def test_a_reasoning_models_thinking_goes_out_and_comes_back(alice, bob, add_message):
    conversation = Conversation.objects.create(user=alice, title="Thinking", model="r1")
    q = add_message(conversation, "user", "2+2?")
    add_message(
        conversation, "assistant", "4", parent=q, model="r1", reasoning="<b>two</b> and two",
        reasoning_seconds=12.4, prompt_tokens=3, completion_tokens=9, total_tokens=12,
        reasoning_tokens=8,
    )  # fmt: skip
    document = transfer.export_user(user=alice)
    (exported,) = [m for m in document["conversations"][0]["messages"] if m["role"] == "assistant"]
    assert exported["reasoning"] == "<b>two</b> and two"
    assert exported["reasoning_seconds"] == 12.4
    assert exported["usage"]["reasoning_tokens"] == 8

    (copy,) = transfer.import_file(user=bob, raw=json.dumps(document).encode())

    answer = copy.messages.get(role="assistant")
    assert (answer.content, answer.reasoning) == ("4", "<b>two</b> and two")
    assert (answer.reasoning_seconds, answer.reasoning_tokens) == (12.4, 8)
    assert "two" not in answer.html  # the thinking never joins the answer


def test_an_older_export_without_thinking_still_comes_in(alice, bob, branched):
    document = transfer.export_user(user=alice)
    for message in document["conversations"][0]["messages"]:
        del message["reasoning"], message["reasoning_seconds"]
    (copy,) = transfer.import_file(user=bob, raw=json.dumps(document).encode())
    assert _tree(copy) == _tree(branched)
    assert not copy.messages.exclude(reasoning="").exists()
