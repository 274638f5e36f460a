"""The spill file (streaming/spill.py): what an answer keeps on disk while the database is
away, and what start-up recovery writes from it."""

from __future__ import annotations

import pytest

from catalog.models import UsageRecord
from conversations.models import Message, Outcome
from streaming import spill


@pytest.fixture
def answer(conversation, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    question = Message.objects.create(conversation=conversation, role="user", content="q")
    return Message.objects.create(
        conversation=conversation, parent=question, role="assistant", status="streaming",
        content="Hello", worker="gone",
    )  # fmt: skip


@pytest.mark.django_db
def test_an_outage_kept_on_disk_is_written_as_interrupted(answer):
    kept = spill.Spill(answer.pk)
    kept.append("Hello, wor")
    kept.append("Hello, world and more")
    assert spill.recover_all() == 1
    answer.refresh_from_db()
    assert (answer.status, answer.error_code) == ("interrupted", "interrupted")
    assert answer.content == "Hello, world and more"
    assert not kept.path.exists()


@pytest.mark.django_db
def test_a_recorded_end_is_written_with_its_usage_rows(answer, alice):
    kept = spill.Spill(answer.pk)
    kept.append("Hello, wor")
    row = UsageRecord(
        user_id=alice.pk, username="alice", provider="environment", model="fake-model",
        kind="answer", outcome="done", prompt_tokens=3, completion_tokens=4, total_tokens=7,
        conversation_id=answer.conversation_id, message_id=answer.pk,
    )  # fmt: skip
    kept.end("Hello, world.", Outcome.done("stop"), usage=None, context_from_id=None, ledger=[row])
    assert spill.recover_all() == 1
    answer.refresh_from_db()
    assert (answer.status, answer.content, answer.finish_reason) == (
        "done",
        "Hello, world.",
        "stop",
    )
    assert list(UsageRecord.objects.values_list("message_id", "total_tokens")) == [(answer.pk, 7)]


@pytest.mark.django_db
def test_recovery_never_shortens_the_text_a_later_checkpoint_saved(answer):
    """A short outage spilled "Hello"; checkpoints after it saved more; then the process
    was killed: the longer text is kept."""
    spill.Spill(answer.pk).append("Hel")
    Message.objects.checkpoint(answer.pk, "Hello, world, after the outage")
    assert spill.recover_all() == 1
    answer.refresh_from_db()
    assert answer.content == "Hello, world, after the outage"
    assert answer.status == "interrupted"


@pytest.mark.django_db
def test_a_torn_last_line_is_ignored(answer):
    kept = spill.Spill(answer.pk)
    kept.append("Hello, world")
    with open(kept.path, "a", encoding="utf-8") as file:
        file.write('{"text": "and a cra')  # killed mid-append
    assert spill.read(kept.path).text == "Hello, world"


@pytest.mark.django_db
def test_a_recorded_end_keeps_its_thinking(answer):
    kept = spill.Spill(answer.pk)
    kept.end(
        "Hello: 4.", Outcome.done("stop"), usage={"prompt_tokens": 1, "completion_tokens": 9,
        "total_tokens": 10, "reasoning_tokens": 7}, context_from_id=None, ledger=[],
        reasoning="two and two", reasoning_seconds=3.5,
    )  # fmt: skip
    assert spill.recover_all() == 1
    answer.refresh_from_db()
    assert (answer.content, answer.reasoning, answer.reasoning_seconds) == (
        "Hello: 4.",
        "two and two",
        3.5,
    )
    assert answer.reasoning_tokens == 7


@pytest.mark.django_db
def test_an_interrupted_answer_keeps_the_thinking_its_checkpoint_saved(answer):
    Message.objects.checkpoint(answer.pk, "Hel", "thinking so far")
    spill.Spill(answer.pk).append("Hello")
    assert spill.recover_all() == 1
    answer.refresh_from_db()
    assert (answer.status, answer.content) == ("interrupted", "Hello")
    assert answer.reasoning == "thinking so far"
