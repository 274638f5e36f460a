"""conversations.actions: each workflow validates, then writes, or refuses and writes nothing."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations import actions, errors, organise, recovery
from conversations.actions import ActionError
from conversations.models import TITLE_MAX, Conversation, Message
from realtime import events

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def refused(code):
    """Expect an ActionError with `code`, and no Message or Conversation written."""
    messages, conversations = Message.objects.count(), Conversation.objects.count()
    with pytest.raises(ActionError) as caught:
        yield
    assert caught.value.code == code
    assert caught.value.message
    assert Message.objects.count() == messages
    assert Conversation.objects.count() == conversations


def question_of(answer: Message) -> Message:
    """The user message an answer replies to."""
    assert answer.parent is not None
    return answer.parent


@pytest.fixture
def answered(conversation):
    """A conversation with one finished exchange."""
    answer = actions.post_user_message(conversation=conversation, text="What is 2+2?")
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.DONE, content="4")
    conversation.refresh_from_db()
    return conversation


# --- start_conversation -----------------------------------------------------------------


def test_start_conversation_saves_the_message_and_a_pending_answer(alice):
    answer = actions.start_conversation(user=alice, text="Hello there")
    conversation = answer.conversation

    user_message = question_of(answer)
    assert user_message.role == Message.Role.USER
    assert user_message.content == "Hello there"
    assert user_message.status == Message.Status.DONE
    assert user_message.parent is None
    assert answer.role == Message.Role.ASSISTANT
    assert answer.status == Message.Status.PENDING
    assert answer.content == ""
    assert conversation.user == alice
    assert conversation.messages.count() == 2
    conversation.refresh_from_db()
    assert conversation.current_leaf == answer
    assert conversation.active_path() == [user_message, answer]


def test_start_conversation_uses_the_first_configured_model_by_default(alice):
    answer = actions.start_conversation(user=alice, text="hi")
    conversation = answer.conversation

    assert conversation.model == answer.model == "fake-model"


def test_start_conversation_uses_the_chosen_model(alice):
    answer = actions.start_conversation(user=alice, text="hi", model="fake-model-2")
    conversation = answer.conversation

    conversation.refresh_from_db()
    assert conversation.model == answer.model == "fake-model-2"


def test_start_conversation_marks_the_answer_with_this_instance(alice, settings):
    settings.INSTANCE_ID = "web-7"

    answer = actions.start_conversation(user=alice, text="hi")

    assert answer.worker == "web-7"


def test_start_conversation_titles_it_from_the_first_message(alice):
    answer = actions.start_conversation(user=alice, text="  How do\n tides   work?  ")
    conversation = answer.conversation

    assert conversation.title == "How do tides work?"


def test_start_conversation_truncates_a_long_title_with_an_ellipsis(alice):
    answer = actions.start_conversation(user=alice, text="word " * 100)
    conversation = answer.conversation

    assert len(conversation.title) == TITLE_MAX
    assert conversation.title.endswith("…")
    assert conversation.title.startswith("word word")


@pytest.mark.parametrize(
    ("text", "model", "code"),
    [
        ("", None, "empty_text"),
        (" \n\t ", None, "empty_text"),
        ("x" * (actions.MAX_MESSAGE_CHARS + 1), None, "too_long"),
        ("hi", "gpt-unknown", "unknown_model"),
    ],
)
def test_start_conversation_refuses_bad_input_and_writes_nothing(alice, text, model, code):
    with refused(code):
        actions.start_conversation(user=alice, text=text, model=model)


def test_start_conversation_accepts_text_of_exactly_the_limit(alice):
    answer = actions.start_conversation(user=alice, text="x" * actions.MAX_MESSAGE_CHARS)

    assert len(question_of(answer).content) == actions.MAX_MESSAGE_CHARS


# --- post_user_message ------------------------------------------------------------------


def test_post_user_message_saves_the_message_and_a_pending_answer_after_it(answered):
    previous_leaf = answered.current_leaf

    answer = actions.post_user_message(conversation=answered, text="And 3+3?")

    user_message = question_of(answer)
    assert user_message.content == "And 3+3?"
    assert user_message.parent == previous_leaf
    assert answer.status == Message.Status.PENDING
    answered.refresh_from_db()
    assert answered.current_leaf == answer
    assert [m.content for m in answered.active_path()] == ["What is 2+2?", "4", "And 3+3?", ""]


def test_post_user_message_titles_an_empty_conversation(conversation):
    actions.post_user_message(conversation=conversation, text="Plan a trip to Lisbon")

    conversation.refresh_from_db()
    assert conversation.title == "Plan a trip to Lisbon"


def test_post_user_message_keeps_the_title_of_a_started_conversation(answered):
    organise.rename(conversation=answered, title="Arithmetic")

    actions.post_user_message(conversation=answered, text="Something else entirely")

    answered.refresh_from_db()
    assert answered.title == "Arithmetic"


def test_post_user_message_switches_the_conversation_model(answered):
    answer = actions.post_user_message(conversation=answered, text="hi", model="fake-model-2")

    answered.refresh_from_db()
    assert answered.model == answer.model == "fake-model-2"


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n", None, 42])
def test_post_user_message_refuses_empty_text(answered, text):
    with refused("empty_text"):
        actions.post_user_message(conversation=answered, text=text)


def test_post_user_message_refuses_over_long_text(answered):
    with refused("too_long"):
        actions.post_user_message(conversation=answered, text="y" * (actions.MAX_MESSAGE_CHARS + 1))


def test_post_user_message_refuses_an_unknown_model(answered):
    with refused("unknown_model"):
        actions.post_user_message(conversation=answered, text="hi", model="gpt-unknown")

    answered.refresh_from_db()
    assert answered.model == "fake-model"


@pytest.mark.parametrize("status", [Message.Status.PENDING, Message.Status.STREAMING])
def test_post_user_message_refuses_a_second_message_while_an_answer_is_live(conversation, status):
    answer = actions.post_user_message(conversation=conversation, text="first")
    Message.objects.filter(pk=answer.pk).update(status=status)

    with refused("busy"):
        actions.post_user_message(conversation=conversation, text="second")

    conversation.refresh_from_db()
    assert conversation.current_leaf_id == answer.pk


def test_post_user_message_accepts_a_message_once_the_answer_ended(conversation):
    answer = actions.post_user_message(conversation=conversation, text="first")
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.STOPPED)

    second = actions.post_user_message(conversation=conversation, text="second")

    assert question_of(second).parent_id == answer.pk


# --- rate limit -------------------------------------------------------------------------


def test_the_rate_limit_refuses_the_answer_after_the_hourly_allowance(alice, settings):
    settings.MAX_REQUEST_PER_HOUR = 2
    actions.start_conversation(user=alice, text="one")
    actions.start_conversation(user=alice, text="two")

    with refused("rate_limited"):
        actions.start_conversation(user=alice, text="three")


def test_the_rate_limit_counts_messages_in_existing_conversations(conversation, settings):
    settings.MAX_REQUEST_PER_HOUR = 2
    for text in ("one", "two"):
        answer = actions.post_user_message(conversation=conversation, text=text)
        Message.objects.filter(pk=answer.pk).update(status=Message.Status.DONE)

    with refused("rate_limited"):
        actions.post_user_message(conversation=conversation, text="three")


def test_the_rate_limit_is_per_user(alice, bob, settings):
    settings.MAX_REQUEST_PER_HOUR = 1
    actions.start_conversation(user=alice, text="alice's one")

    answer = actions.start_conversation(user=bob, text="bob's one")

    conversation = answer.conversation

    assert conversation.user == bob


def test_no_rate_limit_when_it_is_zero(alice, settings):
    settings.MAX_REQUEST_PER_HOUR = 0
    for i in range(5):
        actions.start_conversation(user=alice, text=f"message {i}")

    assert Conversation.objects.count() == 5


# --- regenerate -------------------------------------------------------------------------


def test_regenerate_creates_a_sibling_answer_and_moves_the_leaf(answered):
    old = answered.current_leaf

    new = actions.regenerate(conversation=answered)

    assert new.pk != old.pk
    assert new.parent_id == old.parent_id
    assert new.status == Message.Status.PENDING
    answered.refresh_from_db()
    assert answered.current_leaf == new
    old.refresh_from_db()
    assert old.status == Message.Status.DONE
    assert old.content == "4"
    path = answered.active_path()
    assert old not in path
    assert path[-1] == new


def test_regenerate_can_switch_model(answered):
    new = actions.regenerate(conversation=answered, model="fake-model-2")

    answered.refresh_from_db()
    assert new.model == answered.model == "fake-model-2"


def test_regenerate_with_no_user_message_is_refused(conversation):
    with refused("nothing_to_regenerate"):
        actions.regenerate(conversation=conversation)


def test_regenerate_while_an_answer_is_live_is_refused(conversation):
    actions.post_user_message(conversation=conversation, text="first")

    with refused("busy"):
        actions.regenerate(conversation=conversation)


def test_regenerate_refuses_an_unknown_model(answered):
    with refused("unknown_model"):
        actions.regenerate(conversation=answered, model="gpt-unknown")


# --- rename and settings ----------------------------------------------------------------


def test_rename_sets_the_title(conversation):
    organise.rename(conversation=conversation, title="  Trip   ideas ")

    conversation.refresh_from_db()
    assert conversation.title == "Trip ideas"


@pytest.mark.parametrize("title", ["", "   ", None])
def test_rename_refuses_an_empty_title(conversation, title):
    with pytest.raises(ActionError) as caught:
        organise.rename(conversation=conversation, title=title)

    assert caught.value.code == "empty_title"
    conversation.refresh_from_db()
    assert conversation.title == "New chat"


def test_update_settings_saves_model_context_instructions_and_prompt(conversation):
    assert conversation.instructions_enabled is True

    organise.update_settings(
        conversation=conversation,
        model="fake-model-2",
        context_enabled=False,
        instructions_enabled=False,
        system_prompt="  Be brief.  ",
    )

    conversation.refresh_from_db()
    assert conversation.model == "fake-model-2"
    assert conversation.context_enabled is False
    assert conversation.instructions_enabled is False
    assert conversation.system_prompt == "Be brief."


def test_update_settings_refuses_an_unknown_model(conversation):
    with pytest.raises(ActionError) as caught:
        organise.update_settings(
            conversation=conversation,
            model="gpt-unknown",
            context_enabled=False,
            instructions_enabled=False,
            system_prompt="x",
        )

    assert caught.value.code == "unknown_model"
    conversation.refresh_from_db()
    assert conversation.model == "fake-model"
    assert conversation.context_enabled is True
    assert conversation.instructions_enabled is True
    assert conversation.system_prompt == ""


# --- recovery after a restart -----------------------------------------------------------


@pytest.fixture
def streams(alice, add_message, settings):
    """Live answers left in the database: this instance's, another's fresh and stale ones."""
    settings.INSTANCE_ID = "web-1"
    settings.STREAM_STALE_SECONDS = 60
    now = timezone.now()

    def live_answer(title, worker, updated_at, content):
        conversation = Conversation.objects.create(user=alice, title=title)
        question = add_message(conversation, "user", "question")
        return add_message(
            conversation,
            "assistant",
            content,
            parent=question,
            status=Message.Status.STREAMING,
            worker=worker,
            updated_at=updated_at,
        )

    return {
        "mine": live_answer("mine", "web-1", now, "Some **bold** text so far"),
        "mine_pending": live_answer("mine pending", "web-1", now, ""),
        "fresh": live_answer("fresh", "web-2", now - timedelta(seconds=5), "fresh text"),
        "stale": live_answer("stale", "web-2", now - timedelta(seconds=61), "stale *text*"),
        "finished": add_message(
            Conversation.objects.create(user=alice, title="done"),
            "assistant",
            "done text",
            worker="web-1",
            html="<p>done text</p>",
        ),
    }


def _reloaded(message):
    message.refresh_from_db()
    return message


def test_recover_interrupted_ends_this_instances_live_answers(streams):
    recovery.recover_interrupted(instance_id="web-1")

    mine = _reloaded(streams["mine"])
    assert mine.status == Message.Status.INTERRUPTED
    assert mine.error_code == "interrupted"
    assert mine.error == errors.stored_text("interrupted")
    assert mine.content == "Some **bold** text so far"
    assert mine.html == "<p>Some <strong>bold</strong> text so far</p>"
    assert mine.finished_at is not None
    assert _reloaded(streams["mine_pending"]).status == Message.Status.INTERRUPTED


def test_recover_interrupted_leaves_another_instances_fresh_answer_alone(streams):
    recovery.recover_interrupted(instance_id="web-1")

    fresh = _reloaded(streams["fresh"])
    assert fresh.status == Message.Status.STREAMING
    assert fresh.html == ""
    assert fresh.finished_at is None


def test_recover_interrupted_ends_another_instances_stale_answer(streams):
    recovery.recover_interrupted(instance_id="web-1")

    stale = _reloaded(streams["stale"])
    assert stale.status == Message.Status.INTERRUPTED
    assert stale.html == "<p>stale <em>text</em></p>"


def test_recover_interrupted_leaves_finished_answers_alone(streams):
    recovery.recover_interrupted(instance_id="web-1")

    finished = _reloaded(streams["finished"])
    assert finished.status == Message.Status.DONE
    assert finished.error_code == ""


def test_recover_interrupted_counts_what_it_ended(streams):
    assert recovery.recover_interrupted(instance_id="web-1") == 3
    assert recovery.recover_interrupted(instance_id="web-1") == 0


def test_the_recover_streams_command_recovers_this_instance(streams):
    out = StringIO()

    call_command("recover_streams", stdout=out)

    assert "3 interrupted answer(s) recovered." in out.getvalue()
    assert _reloaded(streams["mine"]).status == Message.Status.INTERRUPTED
    assert _reloaded(streams["stale"]).status == Message.Status.INTERRUPTED
    assert _reloaded(streams["fresh"]).status == Message.Status.STREAMING


def test_end_abandoned_does_nothing_to_an_answer_that_already_ended(streams):
    finished = streams["finished"]

    assert recovery.end_abandoned(finished) is False
    assert _reloaded(finished).status == Message.Status.DONE


def test_an_answer_is_abandoned_only_when_live_and_past_the_stale_limit(streams):
    assert recovery.is_abandoned(streams["stale"], running_here=False) is True
    assert recovery.is_abandoned(streams["fresh"], running_here=False) is False
    old_done = streams["finished"]
    old_done.updated_at = timezone.now() - timedelta(hours=1)
    assert recovery.is_abandoned(old_done, running_here=False) is False


def test_this_instances_streaming_answer_not_running_here_is_abandoned_at_once(streams):
    # Daphne restarted without recover_streams: the answer is ours, fresh, but dead.
    assert recovery.is_abandoned(streams["mine"], running_here=False) is True
    assert recovery.is_abandoned(streams["mine"], running_here=True) is False


# --- publishing -------------------------------------------------------------------------


def test_post_user_message_publishes_both_messages_only_after_commit(
    conversation, django_capture_on_commit_callbacks
):
    from asgiref.sync import async_to_sync, sync_to_async
    from channels.layers import get_channel_layer

    from realtime import events

    layer = get_channel_layer()

    def post() -> tuple[Message, list[Any]]:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            answer = actions.post_user_message(conversation=conversation, text="hello")
        return answer, callbacks

    async def scenario() -> tuple[Message, bool, list[dict[str, Any]]]:
        # One event loop for every layer call, as in the server (channels-redis keeps its
        # connections and subscriptions per loop); the sync steps run on this thread.
        channel = await layer.new_channel()
        await layer.group_add(events.conversation_group(conversation.pk), channel)
        answer, callbacks = await sync_to_async(post)()
        # Never cancel a receive: the pub/sub layer unsubscribes a channel whose receive
        # is cancelled (it takes that for the consumer going away).
        first = asyncio.ensure_future(layer.receive(channel))
        done, _ = await asyncio.wait({first}, timeout=0.3)
        nothing_arrived = not done
        for callback in callbacks:
            await sync_to_async(callback)()
        received = [(await first)["frame"]]
        received += [(await layer.receive(channel))["frame"] for _ in range(len(callbacks) - 1)]
        return answer, nothing_arrived, received

    answer, nothing_arrived, received = async_to_sync(scenario)()
    assert nothing_arrived, "a frame was published before the commit"

    assert [f["type"] for f in received] == ["title", "message", "message"]
    assert received[0]["title"] == "hello"
    assert [f["message"]["role"] for f in received[1:]] == ["user", "assistant"]
    assert received[2]["message"]["id"] == answer.pk
    assert received[2]["message"]["status"] == "pending"


# --- Branches: edit, regenerate any answer, switch, delete ------------------------------


def finish(answer: Message, text: str) -> Message:
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.DONE, content=text)
    answer.refresh_from_db()
    return answer


@pytest.fixture
def two_exchanges(conversation):
    """q1 -> a1 -> q2 -> a2, all finished."""
    a1 = finish(actions.post_user_message(conversation=conversation, text="q1"), "a1")
    a2 = finish(actions.post_user_message(conversation=conversation, text="q2"), "a2")
    conversation.refresh_from_db()
    return conversation, a1, a2


def contents(conversation: Conversation) -> list[str]:
    conversation.refresh_from_db()
    return [m.content for m in conversation.active_path()]


def test_edit_makes_a_sibling_of_the_question_and_answers_it(two_exchanges):
    conversation, a1, _ = two_exchanges
    q1 = question_of(a1)

    answer = actions.edit_message(conversation=conversation, message_id=q1.pk, text="q1 edited")

    edited = question_of(answer)
    assert edited.parent_id == q1.parent_id is None
    assert answer.status == Message.Status.PENDING
    assert contents(conversation) == ["q1 edited", ""]
    # The old version keeps its whole continuation.
    assert Message.objects.filter(pk__in=[q1.pk, a1.pk]).count() == 2
    assert conversation.path_to(two_exchanges[2].pk)[0] == q1


def test_the_thread_numbers_each_version_of_an_edited_message(two_exchanges):
    conversation, a1, _ = two_exchanges
    q1 = question_of(a1)
    finish(actions.edit_message(conversation=conversation, message_id=q1.pk, text="v2"), "b")
    conversation.refresh_from_db()

    thread = conversation.active_thread()

    assert [(m.content, m.branch_index, m.branch_count) for m in thread] == [
        ("v2", 2, 2),
        ("b", 1, 1),
    ]
    assert thread[0].previous_version_id == q1.pk
    assert thread[0].next_version_id is None


def test_switching_back_shows_the_old_branch_to_its_newest_leaf(two_exchanges):
    conversation, a1, a2 = two_exchanges
    q1 = question_of(a1)
    finish(actions.edit_message(conversation=conversation, message_id=q1.pk, text="v2"), "b")

    actions.switch_branch(conversation=conversation, message_id=q1.pk)

    conversation.refresh_from_db()
    assert conversation.current_leaf_id == a2.pk
    assert contents(conversation) == ["q1", "a1", "q2", "a2"]
    assert conversation.active_thread()[0].branch_index == 1


def test_switch_goes_to_the_newest_leaf_under_the_chosen_version(two_exchanges):
    conversation, a1, a2 = two_exchanges
    # A regenerated second answer on the first branch is newer than a2.
    a2b = finish(actions.regenerate(conversation=conversation, message_id=a2.pk), "a2b")
    q1 = question_of(a1)
    finish(actions.edit_message(conversation=conversation, message_id=q1.pk, text="v2"), "b")

    actions.switch_branch(conversation=conversation, message_id=q1.pk)

    conversation.refresh_from_db()
    assert conversation.current_leaf_id == a2b.pk


def test_regenerate_any_answer_not_only_the_last(two_exchanges):
    conversation, a1, a2 = two_exchanges

    answer = actions.regenerate(conversation=conversation, message_id=a1.pk)

    assert answer.parent_id == a1.parent_id
    assert contents(conversation) == ["q1", ""]
    # The old answer and what followed it are a branch now.
    assert Message.objects.filter(pk=a2.pk).exists()


def test_regenerate_of_a_user_message_answers_it(two_exchanges):
    conversation, a1, _ = two_exchanges

    answer = actions.regenerate(conversation=conversation, message_id=a1.parent_id)

    assert answer.parent_id == a1.parent_id


def test_edit_of_an_answer_is_refused(two_exchanges):
    conversation, a1, _ = two_exchanges
    with refused("not_editable"):
        actions.edit_message(conversation=conversation, message_id=a1.pk, text="x")


@pytest.mark.parametrize("message_id", [None, "3", 1.5, True, [1]])
def test_branch_actions_refuse_a_malformed_message_id(two_exchanges, message_id):
    conversation, _, _ = two_exchanges
    for act in (actions.switch_branch, actions.delete_message):
        with refused("bad_message"):
            act(conversation=conversation, message_id=message_id)
    with refused("bad_message"):
        actions.edit_message(conversation=conversation, message_id=message_id, text="x")


def test_branch_actions_refuse_another_conversations_message(two_exchanges, bob):
    conversation, _, _ = two_exchanges
    other = actions.start_conversation(user=bob, text="bob's")
    for act in (actions.switch_branch, actions.delete_message):
        with refused("message_not_found"):
            act(conversation=conversation, message_id=other.pk)
    with refused("message_not_found"):
        actions.regenerate(conversation=conversation, message_id=other.pk)
    assert Message.objects.filter(pk=other.pk).exists()


def test_edit_refuses_empty_text_and_writes_nothing(two_exchanges):
    conversation, a1, _ = two_exchanges
    with refused("empty_text"):
        actions.edit_message(conversation=conversation, message_id=a1.parent_id, text="  ")


def test_branch_actions_wait_for_a_live_answer(two_exchanges):
    conversation, a1, _ = two_exchanges
    actions.post_user_message(conversation=conversation, text="q3")
    with refused("busy"):
        actions.edit_message(conversation=conversation, message_id=a1.parent_id, text="x")
    with refused("busy"):
        actions.regenerate(conversation=conversation, message_id=a1.pk)
    with refused("busy"):
        actions.delete_message(conversation=conversation, message_id=a1.pk)
    with refused("busy"):
        actions.switch_branch(conversation=conversation, message_id=a1.pk)


def test_delete_takes_what_follows_it_and_the_path_ends_at_the_parent(two_exchanges):
    conversation, a1, a2 = two_exchanges
    q2 = question_of(a2)

    actions.delete_message(conversation=conversation, message_id=q2.pk)

    assert not Message.objects.filter(pk__in=[q2.pk, a2.pk]).exists()
    assert contents(conversation) == ["q1", "a1"]
    assert conversation.current_leaf_id == a1.pk


def test_delete_of_a_version_shows_the_newest_remaining_one(two_exchanges):
    conversation, a1, a2 = two_exchanges
    q1 = question_of(a1)
    edited = finish(
        actions.edit_message(conversation=conversation, message_id=q1.pk, text="v2"), "b"
    )

    actions.delete_message(conversation=conversation, message_id=edited.parent_id)

    conversation.refresh_from_db()
    assert conversation.current_leaf_id == a2.pk
    assert [m.branch_count for m in conversation.active_thread()] == [1, 1, 1, 1]


def test_delete_off_the_active_path_keeps_the_path(two_exchanges):
    conversation, a1, _ = two_exchanges
    q1 = question_of(a1)
    for text in ("v2", "v3"):
        finish(actions.edit_message(conversation=conversation, message_id=q1.pk, text=text), "b")
    conversation.refresh_from_db()
    v3 = conversation.active_path()[0]
    assert v3.content == "v3"
    actions.switch_branch(conversation=conversation, message_id=q1.pk)

    actions.delete_message(conversation=conversation, message_id=v3.pk)

    assert contents(conversation) == ["q1", "a1", "q2", "a2"]
    assert [m.branch_count for m in conversation.active_thread()][:1] == [2]


def test_delete_of_the_first_message_empties_the_conversation(two_exchanges):
    conversation, a1, _ = two_exchanges

    actions.delete_message(conversation=conversation, message_id=a1.parent_id)

    assert contents(conversation) == []
    assert not conversation.messages.exists()


def test_a_switch_publishes_the_new_path_after_commit(two_exchanges, capture_frames):
    conversation, a1, a2 = two_exchanges
    q1 = question_of(a1)
    finish(actions.edit_message(conversation=conversation, message_id=q1.pk, text="v2"), "b")

    with capture_frames() as captured:
        actions.switch_branch(conversation=conversation, message_id=q1.pk)

    path = {"type": "path", "conversation_id": conversation.pk, "leaf_id": a2.pk}
    assert captured.frames() == [path]  # that frame alone
    assert captured.frames("path", group=events.conversation_group(conversation.pk)) == [path]


def test_a_switch_to_the_shown_branch_publishes_nothing(two_exchanges, capture_frames):
    conversation, a1, _ = two_exchanges

    with capture_frames() as captured:
        actions.switch_branch(conversation=conversation, message_id=a1.pk)

    assert captured.sent == []
