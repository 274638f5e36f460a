"""The generation service without a socket: context building and one answer's life."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import get_channel_layer

from conversations import actions
from conversations.context import build_context
from conversations.models import Conversation, Message
from realtime import events
from streaming import answers, generation, jobs, titles
from streaming import checkpoints as checkpoints_module
from streaming.coalescing import coalesce_window
from streaming.registry import registry
from tests.upstream import FakeUpstream, expected_text


def add_exchange(conversation: Conversation, question: str, answer: str) -> Message:
    user = Message.objects.create(
        conversation=conversation, parent=conversation.current_leaf, role="user", content=question
    )
    reply = Message.objects.create(
        conversation=conversation, parent=user, role="assistant", content=answer
    )
    conversation.current_leaf = reply
    conversation.save()
    return reply


def pending_answer(conversation: Conversation, text: str) -> Message:
    return actions.post_user_message(conversation=conversation, text=text)


@pytest.mark.django_db
def test_context_is_the_system_prompt_then_the_branch_oldest_first(conversation, settings):
    settings.SYSTEM_PROMPT = "Be brief."
    add_exchange(conversation, "q1", "a1")
    add_exchange(conversation, "q2", "a2")
    answer = pending_answer(conversation, "q3")
    assert build_context(conversation, answer) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": "q3"},
    ]


@pytest.mark.django_db
def test_context_leaves_out_other_branches(conversation):
    first = add_exchange(conversation, "q1", "a1")
    # A regenerated sibling of a1 that is not on the active path.
    Message.objects.create(
        conversation=conversation, parent=first.parent, role="assistant", content="other"
    )
    answer = pending_answer(conversation, "q2")
    contents = [m["content"] for m in build_context(conversation, answer)]
    assert "other" not in contents
    assert contents[1:] == ["q1", "a1", "q2"]


@pytest.mark.django_db
def test_context_drops_the_oldest_messages_to_fit_the_budget(conversation, settings):
    settings.SYSTEM_PROMPT = "s"
    long = "word " * 400  # about 500 estimated tokens
    add_exchange(conversation, "old question " + long, "old answer " + long)
    add_exchange(conversation, "recent question", "recent answer")
    answer = pending_answer(conversation, "newest")
    settings.CONTEXT_TOKEN_BUDGET = 200
    contents = [m["content"] for m in build_context(conversation, answer)]
    assert contents == ["s", "recent question", "recent answer", "newest"]
    settings.CONTEXT_TOKEN_BUDGET = 5000
    assert len(build_context(conversation, answer)) == 6


@pytest.mark.django_db
def test_the_newest_message_is_sent_even_over_budget(conversation, settings):
    settings.CONTEXT_TOKEN_BUDGET = 10
    answer = pending_answer(conversation, "x" * 4000)
    assert build_context(conversation, answer)[-1]["content"] == "x" * 4000


@pytest.mark.django_db
def test_context_off_sends_the_system_prompt_and_the_last_message_only(conversation, settings):
    settings.SYSTEM_PROMPT = ""
    add_exchange(conversation, "q1", "a1")
    conversation.context_enabled = False
    conversation.system_prompt = "Custom."
    conversation.save()
    answer = pending_answer(conversation, "q2")
    assert build_context(conversation, answer) == [
        {"role": "system", "content": "Custom."},
        {"role": "user", "content": "q2"},
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_answer_runs_to_the_end_without_any_socket(
    live, conversation, upstream: FakeUpstream
):
    from asgiref.sync import sync_to_async

    layer = get_channel_layer()
    watcher = await layer.new_channel()
    await layer.group_add(events.conversation_group(conversation.pk), watcher)
    answer = await sync_to_async(pending_answer)(conversation, "[[fake tokens=12]]")
    task = await generation.start(answer.pk, conversation.pk)
    await asyncio.wait_for(task, timeout=10)

    await answer.arefresh_from_db()
    assert answer.status == Message.Status.DONE
    assert answer.content == expected_text(12)
    assert answer.worker
    received = []
    while True:
        event = await asyncio.wait_for(layer.receive(watcher), timeout=2)
        received.append(event["frame"])
        if event["frame"]["type"] == "done":
            break
    assert "".join(f["text"] for f in received if f["type"] == "delta") == expected_text(12)


def local_channels(layer) -> set[str]:
    """The channels the layer still holds for this process (either configuration)."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if isinstance(layer, RedisPubSubChannelLayer):
        return set(layer._get_layer().channels)
    return set(layer.channels)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_finished_answer_leaves_no_channel_behind(
    live, conversation, upstream: FakeUpstream
):
    """With Redis pub/sub, a channel left behind is a subscription kept forever."""
    from asgiref.sync import sync_to_async

    layer = get_channel_layer()
    before = local_channels(layer)
    answer = await sync_to_async(pending_answer)(conversation, "[[fake tokens=5]]")
    task = await generation.start(answer.pk, conversation.pk)
    await asyncio.wait_for(task, timeout=10)
    assert local_channels(layer) - before == set()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_answer_is_claimed_once_even_if_started_twice(
    live, conversation, upstream: FakeUpstream
):
    from asgiref.sync import sync_to_async

    answer = await sync_to_async(pending_answer)(conversation, "[[fake tokens=4]]")
    first = await generation.start(answer.pk, conversation.pk)
    second = await generation.start(answer.pk, conversation.pk)
    await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    assert len(upstream.chat_requests) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_shutting_down_marks_running_answers_interrupted_keeping_the_text(
    live, conversation, upstream: FakeUpstream
):
    from asgiref.sync import sync_to_async

    layer, watcher = await watch(conversation)
    answer = await sync_to_async(pending_answer)(conversation, "[[fake tokens=400 delay=0.01]]")
    await generation.start(answer.pk, conversation.pk)
    await until_a_delta(layer, watcher)  # some text is written (not: some time has passed)
    await registry.shutdown()
    await answer.arefresh_from_db()
    assert answer.status == Message.Status.INTERRUPTED
    assert answer.error_code == "interrupted"
    assert answer.content
    assert expected_text(400).startswith(answer.content)


async def watch(conversation: Conversation) -> tuple[Any, str]:
    layer = get_channel_layer()
    watcher = await layer.new_channel()
    await layer.group_add(events.conversation_group(conversation.pk), watcher)
    return layer, watcher


async def frames_until_done(layer: Any, watcher: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        event = await asyncio.wait_for(layer.receive(watcher), timeout=10)
        frames.append(event["frame"])
        if event["frame"]["type"] == "done":
            return frames


async def until_a_delta(layer: Any, watcher: str) -> dict[str, Any]:
    """The answer's first delta frame, once it is sent (frames before it skipped)."""
    while True:
        event = await asyncio.wait_for(layer.receive(watcher), timeout=10)
        if event["frame"]["type"] == "delta":
            return dict(event["frame"])


def delta_texts(frames: list[dict[str, Any]]) -> list[str]:
    return [f["text"] for f in frames if f["type"] == "delta"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_first_text_goes_out_at_once_and_coalescing_starts_after_it(
    live, conversation, upstream: FakeUpstream, settings
):
    from asgiref.sync import sync_to_async

    # A window of ten minutes, far longer than the test may take: before, the first delta
    # waited for it and carried every token; now it carries the first token alone, and
    # the rest goes out when the reply ends, without waiting for the window to close
    # (frames_until_done gives up after 10 s). The reply comes in one write (burst=1), so
    # its end is read with the rest: nothing here depends on how fast the machine is
    # (with tokens spaced in time, a reader woken late saw the window close first).
    settings.DELTA_COALESCE_MS = 600_000
    layer, watcher = await watch(conversation)
    answer = await sync_to_async(pending_answer)(conversation, "[[fake tokens=10 burst=1]]")
    task = await generation.start(answer.pk, conversation.pk)
    frames = await frames_until_done(layer, watcher)
    await task

    texts = delta_texts(frames)
    assert texts == ["r0w0", expected_text(10).removeprefix("r0w0")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_fast_upstream_still_streams_in_several_frames(
    live, conversation, upstream: FakeUpstream, settings
):
    from asgiref.sync import sync_to_async

    # The whole reply in one write: the body is read from a full buffer, which seldom
    # waits. Before, the read loop let the flusher run only between socket reads (a
    # handful for the whole reply: 3 here); now a due delta goes out at once, so with no
    # window a frame goes out every few tokens (every publish's time with Redis).
    settings.DELTA_COALESCE_MS = 0
    layer, watcher = await watch(conversation)
    answer = await sync_to_async(pending_answer)(conversation, "[[fake tokens=2000 burst=1]]")
    task = await generation.start(answer.pk, conversation.pk)
    frames = await frames_until_done(layer, watcher)
    await task

    texts = delta_texts(frames)
    assert "".join(texts) == expected_text(2000)
    assert len(texts) >= 10, [len(t) for t in texts]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_full_channel_never_breaks_stop(
    live, conversation, upstream: FakeUpstream, settings
):
    from asgiref.sync import sync_to_async
    from channels.layers import channel_layers

    # A socket's channel full (it stopped reading): the snapshot the answer sends it
    # raises ChannelFull. Before, that ended the answer's listener, so Stop was lost.
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 2}}
    }
    channel_layers.backends.clear()
    layer = get_channel_layer()
    stuck = await layer.new_channel()
    for _ in range(2):
        await layer.send(stuck, {"type": "filler"})
    watcher = await layer.new_channel()
    await layer.group_add(events.conversation_group(conversation.pk), watcher)
    answer = await sync_to_async(pending_answer)(conversation, "[[fake tokens=400 delay=0.01]]")
    task = await generation.start(answer.pk, conversation.pk)
    await until_a_delta(layer, watcher)  # the answer has text to keep
    control = events.control_group(conversation.pk)
    await layer.group_send(control, events.snapshot_request(answer.pk, stuck))
    await asyncio.sleep(0.1)
    await layer.group_send(control, events.stop_event(answer.pk))
    await asyncio.wait_for(task, timeout=10)

    await answer.arefresh_from_db()
    assert answer.status == Message.Status.STOPPED
    assert answer.content
    assert expected_text(400).startswith(answer.content)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_429_is_stored_with_its_code_and_retry_after(
    live, conversation, upstream: FakeUpstream
):
    from asgiref.sync import sync_to_async

    layer, watcher = await watch(conversation)
    answer = await sync_to_async(pending_answer)(conversation, "[[fake status=429 retry_after=42]]")
    task = await generation.start(answer.pk, conversation.pk)
    done = (await frames_until_done(layer, watcher))[-1]["message"]
    await task

    assert done["error_code"] == "upstream_rate_limited"
    assert done["retry_after"] == 42
    assert "Try again in 42 s" in done["error"]
    await answer.arefresh_from_db()
    assert (answer.status, answer.error_code, answer.retry_after) == (
        Message.Status.ERROR,
        "upstream_rate_limited",
        42,
    )


@pytest.mark.parametrize(
    ("streaming", "budget", "window_ms"),
    [
        (1, 2500, 40),  # DELTA_COALESCE_MS
        (100, 2500, 40),  # 100 answers x 25 frames/s = the budget
        (200, 2500, 80),  # twice the answers: each one frame in 80 ms
        (1000, 2500, 400),
        (5000, 2500, 400),  # DELTA_COALESCE_MAX_MS
        (5000, 0, 40),  # no budget: the window never widens
    ],
)
def test_the_coalescing_window_widens_when_many_answers_stream(
    settings, monkeypatch, streaming: int, budget: int, window_ms: int
):
    settings.DELTA_COALESCE_MS = 40
    settings.DELTA_FRAMES_PER_SECOND = budget
    settings.DELTA_COALESCE_MAX_MS = 400
    monkeypatch.setattr(registry, "running", dict.fromkeys(range(streaming)))

    assert coalesce_window() == pytest.approx(window_ms / 1000)


@pytest.mark.django_db
def test_the_post_and_its_job_read_the_conversation_and_its_messages_once(conversation):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog import snapshot

    add_exchange(conversation, "q1", "a1")
    snapshot.get()  # in memory on a running server
    with CaptureQueriesContext(connection) as queries:
        answer, job, _ = jobs.post_and_load(
            lambda: actions.post_user_message(
                conversation=Conversation(pk=conversation.pk, user_id=conversation.user_id),
                text="q2",
            )
        )
    assert job is not None
    assert job.answer == answer
    assert [m["content"] for m in job.messages[1:]] == ["q1", "a1", "q2"]
    assert not job.first_exchange
    assert job.username == conversation.user.username
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    # The conversation with its owner and their settings (locked), and its messages.
    assert len(selects) == 2, selects


@pytest.mark.django_db
def test_the_first_answer_of_a_conversation_is_its_first_exchange(conversation, upstream):
    _, job, _ = jobs.post_and_load(
        lambda: actions.post_user_message(conversation=conversation, text="hi")
    )
    assert job is not None
    assert job.first_exchange
    assert [m["content"] for m in job.messages[1:]] == ["hi"]
    # Read again from the database, the job is the same.
    assert jobs.load(job.answer.pk) == job


@pytest.mark.django_db
def test_posting_to_a_deleted_conversation_is_refused(conversation):
    conversation_id = conversation.pk
    conversation.delete()
    with pytest.raises(actions.ActionError) as info:
        actions.post_user_message(
            conversation=Conversation(pk=conversation_id, user_id=conversation.user_id), text="hi"
        )
    assert info.value.code == "not_found"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_silent_upstream_gets_heartbeats_so_the_answer_is_not_taken_for_dead(
    live, conversation, upstream: FakeUpstream, settings
):
    from asgiref.sync import sync_to_async

    settings.STREAM_STALE_SECONDS = 3  # a heartbeat every second while nothing arrives
    answer = await sync_to_async(pending_answer)(
        conversation, "[[fake tokens=50 hang_after=2 delay=0.01]]"
    )
    task = await generation.start(answer.pk, conversation.pk)
    try:
        beats = set()
        for _ in range(30):  # 3 s: the model stays silent after its second token
            await asyncio.sleep(0.1)
            row = await Message.objects.aget(pk=answer.pk)
            beats.add(row.updated_at)
        assert row.status == Message.Status.STREAMING
        # The row's time moved on at least twice during the silence, by heartbeats alone.
        assert len(beats) >= 3
    finally:
        running = registry.get(answer.pk)
        assert running is not None
        running.stop()
        await task


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_answer_started_by_post_and_start_is_not_read_again(
    live, conversation, alice, upstream: FakeUpstream, monkeypatch
):
    def second_read(message_id: int) -> None:
        raise AssertionError("post_and_start read the job already")

    monkeypatch.setattr(jobs, "load", second_read)
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=3]]"
    )
    for _ in range(100):
        await answer.arefresh_from_db()
        if not answer.is_live:
            break
        await asyncio.sleep(0.05)
    assert answer.status == Message.Status.DONE
    assert answer.content == expected_text(3)


@pytest.mark.django_db
def test_a_shutdown_while_the_title_is_made_keeps_the_answer_done(conversation, upstream):
    from catalog.models import UsageRecord

    answer, job, _ = jobs.post_and_load(
        lambda: actions.post_user_message(conversation=conversation, text="hi")
    )
    assert job is not None
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.DONE, content="hello")
    running = generation.Generation(
        message_id=answer.pk,
        conversation_id=conversation.pk,
        channel="test-channel",
        layer=get_channel_layer(),
        provider=None,
        job=job,
    )
    # The end is saved, with its usage rows (Generation.run); the title request follows.
    running.answer = answer
    running.ending.saved = True
    assert running.save_interrupted() is None
    assert not UsageRecord.objects.exists()
    answer.refresh_from_db()
    assert (answer.status, answer.content) == (Message.Status.DONE, "hello")


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_answers_usage_is_in_the_ledger_before_its_title_is_asked_for(
    live, conversation, alice, upstream: FakeUpstream, settings, monkeypatch
):
    """Quotas read the ledger: the answer's rows are written with its end, never held back
    until the title request (up to 20 s) returns."""
    from catalog.models import UsageRecord

    settings.AUTO_TITLE = True
    seen: list[list[tuple[str, str]]] = []

    async def make_title(job, provider, text):
        rows = UsageRecord.objects.values_list("kind", "outcome")
        seen.append([row async for row in rows])
        return None

    monkeypatch.setattr(titles, "make_title", make_title)
    answer = await answers.post_message(
        user=alice, conversation_id=conversation.pk, text="[[fake tokens=3]]"
    )
    task = registry.running[answer.pk][1]
    await asyncio.wait_for(task, 10)
    assert seen == [[("answer", "done")]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_checkpoints_of_answers_streaming_together_share_database_trips(
    live, alice, upstream: FakeUpstream, settings, monkeypatch
):
    """Three answers stream at once: their checkpoints go to the database together, each
    one still saving its own text and marking its own answer streaming."""
    from asgiref.sync import sync_to_async

    settings.CHECKPOINT_SECONDS = 0.2
    trips: list[list[tuple[int, str | None, str]]] = []
    write_all = checkpoints_module.write_all

    def recording(rows: list[tuple[int, str | None, str]]) -> list[Exception | None]:
        trips.append(list(rows))
        return write_all(rows)

    monkeypatch.setattr(checkpoints_module, "write_all", recording)

    def three_answers() -> list[Message]:
        conversations = [
            Conversation.objects.create(user=alice, title="t", model="fake-model") for _ in range(3)
        ]
        return [pending_answer(c, "[[fake tokens=30 delay=0.04]]") for c in conversations]

    answers = await sync_to_async(three_answers)()
    tasks = [await generation.start(a.pk, a.conversation_id) for a in answers]

    def streaming_now() -> set[int]:
        live = Message.objects.filter(pk__in=[a.pk for a in answers], status="streaming")
        return set(live.values_list("pk", flat=True))

    seen_streaming: set[int] = set()
    while not all(t.done() for t in tasks):
        await asyncio.sleep(0.05)
        seen_streaming |= await sync_to_async(streaming_now)()
    await asyncio.gather(*tasks)

    ids = {a.pk for a in answers}
    assert seen_streaming == ids  # each answer's checkpoint was written
    assert any(len(rows) > 1 for rows in trips), trips  # some went together
    checkpointed = sum(len(rows) for rows in trips)
    assert len(trips) < checkpointed
    for answer in answers:
        await sync_to_async(answer.refresh_from_db)()
        assert (answer.status, answer.content) == (Message.Status.DONE, expected_text(30))


class _Unsaveable:
    """A text the database layer cannot take (its conversion to str fails)."""

    def __str__(self) -> str:
        raise ValueError("not storable")


@pytest.mark.django_db(transaction=True)
def test_checkpoints_written_together_fail_alone(alice):
    """One commit for the batch; a statement refused for its own reason fails only its
    answer, and the others are saved."""
    conversations = [
        Conversation.objects.create(user=alice, title="t", model="fake-model") for _ in range(3)
    ]
    answers = [pending_answer(c, "hi") for c in conversations]
    rows: list[tuple[int, str | None, str]] = [
        (answers[0].pk, "first", ""),
        (answers[1].pk, _Unsaveable(), ""),  # type: ignore[list-item]
        (answers[2].pk, None, ""),  # a heartbeat
    ]
    outcomes = checkpoints_module.write_all(rows)
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    saved = {m.pk: m for m in Message.objects.filter(pk__in=[a.pk for a in answers])}
    assert saved[answers[0].pk].content == "first"
    assert saved[answers[0].pk].status == saved[answers[2].pk].status == "streaming"
    assert saved[answers[1].pk].status == "pending"
    assert checkpoints_module.write_all(rows[::2]) == [None, None]  # together, one commit


@pytest.mark.django_db
def test_context_drops_whole_turns_never_an_answer_without_its_question(conversation, settings):
    """A budget that would fit the old answer but not its question as well drops both."""
    from catalog import tokens

    settings.SYSTEM_PROMPT = "s"
    add_exchange(conversation, "old question " + "word " * 200, "old answer")
    add_exchange(conversation, "recent question", "recent answer")
    answer = pending_answer(conversation, "newest")
    recent = ["recent question", "recent answer", "newest"]
    fixed = tokens.count_message("s") + tokens.REPLY_OVERHEAD
    needed = fixed + sum(tokens.count_message(text) for text in recent)
    # Room for the old answer too (a few tokens), not for its long question.
    settings.CONTEXT_TOKEN_BUDGET = needed + tokens.count_message("old answer") + 5
    contents = [m["content"] for m in build_context(conversation, answer)]
    assert contents == ["s", *recent]


@pytest.mark.django_db
def test_the_custom_instructions_count_against_the_context_budget(conversation, settings):
    from accounts.models import UserSettings

    settings.SYSTEM_PROMPT = "s"
    add_exchange(conversation, "old question", "old answer")
    answer = pending_answer(conversation, "newest")
    settings.CONTEXT_TOKEN_BUDGET = 200
    assert len(build_context(conversation, answer)) == 4
    UserSettings.objects.create(user=conversation.user, instructions_about="word " * 180)
    conversation.user._chat_settings_cache = None  # read the saved row
    contents = [m["content"] for m in build_context(conversation, answer)]
    # The longer system message leaves no room for the older turn; the newest stays.
    assert str(contents[0]).startswith("s\n\nThe user's custom instructions.")
    assert contents[1:] == ["newest"]
