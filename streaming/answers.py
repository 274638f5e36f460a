"""The one entry point for answers, for every transport.

The page's WebSocket, the page's forms and the APIs post, watch and stop answers here,
so an answer is the same stored answer, with the same quotas, usage rows, faults and
resume, wherever it was started or watched (the /v1 completions, not stored, go through
complete(): the same quotas and usage rows). Each function checks that the
conversation is the user's (ActionError "not_found" otherwise), runs the action
(conversations.actions: validate, write in one transaction) in the database thread,
and starts the answer only after the commit (streaming.generation.start).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils.translation import gettext as _

from conversations import actions
from conversations import compare as comparing
from conversations.actions import ActionError
from conversations.models import Conversation, Message
from realtime import events
from realtime.publish import HeldFrames
from streaming import completions, generation, jobs, layers, watching
from streaming.watching import Watch, unless_abandoned

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from accounts.models import ApiToken
    from modelclient.providers import ChatMessage

    User = AbstractBaseUser | AnonymousUser

log = logging.getLogger(__name__)

# How long a snapshot request waits for the answer's process before asking again.
SNAPSHOT_WAIT_SECONDS = watching.SNAPSHOT_WAIT_SECONDS

# --- Posting and starting ----------------------------------------------------------------


async def start_conversation(
    *,
    user: User,
    text: object,
    model: object = None,
    temporary: bool = False,
    project_id: object = None,
    attachments: object = None,
) -> Message:
    """A new conversation from its first message (in one of the user's projects, with
    `project_id`; with the user's uploaded `attachments`, a list of ids); returns the
    pending answer, started."""
    return await _post_and_start(
        lambda: actions.start_conversation(
            user=user,
            text=text,
            model=model,
            temporary=temporary,
            project_id=project_id,
            attachments=attachments,
        )
    )


async def post_message(
    *,
    user: User,
    conversation_id: int,
    text: object,
    model: object = None,
    attachments: object = None,
) -> Message:
    """The user's message (saved before any model call, with the user's uploaded
    `attachments`, a list of ids) and its answer, started."""
    # The action reads the row itself, locked, and refuses one that is not the user's.
    conversation = Conversation(pk=conversation_id, user_id=_user_id(user))
    return await _post_and_start(
        lambda: actions.post_user_message(
            conversation=conversation, text=text, model=model, attachments=attachments
        )
    )


async def regenerate(
    *, user: User, conversation_id: int, message_id: object = None, model: object = None
) -> Message:
    """A new answer to the same question, as a sibling branch; started."""
    return await _post_and_start(
        lambda: actions.regenerate(
            conversation=_owned(user, conversation_id), message_id=message_id, model=model
        )
    )


async def compare(
    *, user: User, conversation_id: int, message_id: object, model: object
) -> Message:
    """The question that answer `message_id` answers, answered again by `model` beside it
    (a sibling branch, shown with it until one is chosen); started, even while the
    compared answer is still being written (conversations/compare.py)."""
    return await _post_and_start(
        lambda: comparing.compare_answer(
            conversation=_owned(user, conversation_id), message_id=message_id, model=model
        )
    )


async def edit(
    *, user: User, conversation_id: int, message_id: object, text: object, model: object = None
) -> Message:
    """A user message resent with new text (a sibling branch), answered at once."""
    return await _post_and_start(
        lambda: actions.edit_message(
            conversation=_owned(user, conversation_id),
            message_id=message_id,
            text=text,
            model=model,
        )
    )


async def switch(*, user: User, conversation_id: int, message_id: object) -> Message:
    """Show the branch through `message_id`."""
    chosen: Message = await database_sync_to_async(_switch)(user, conversation_id, message_id)
    return chosen


async def delete(*, user: User, conversation_id: int, message_id: object) -> None:
    """Delete a message and everything that follows it on its branches."""
    await database_sync_to_async(_delete)(user, conversation_id, message_id)


async def _post_and_start(post: Callable[[], Message]) -> Message:
    """The post and the answer's job in one trip to the database thread; then the frames
    the post published (the message, the answer, a first title), from this loop, before
    the answer can send its first delta; then the answer."""
    posted: tuple[Message, jobs.Job | None, HeldFrames] = await database_sync_to_async(
        jobs.post_and_load
    )(post)
    answer, job, frames = posted
    layer = get_channel_layer()
    for group, event in frames if layer is not None else ():
        try:
            await layer.group_send(group, event)
        except Exception as exc:
            # The answer is saved and starts anyway; sockets resync (sync) from the database.
            log.warning("Answer %s: a frame of its post not published: %r", answer.pk, exc)
    await generation.start(answer.pk, answer.conversation_id, job=job)
    return answer


# --- Completions that are not stored (the OpenAI-compatible /v1) ------------------------

Completion = completions.Completion
CompletionFailed = completions.Failed
RateLimit = completions.RateLimit


async def complete(
    *,
    user: AbstractBaseUser,
    token: ApiToken,
    model: str,
    messages: list[ChatMessage],
    options: dict[str, Any],
) -> completions.Completion:
    """An answer to `messages` that is not stored: admitted by the same checks and quotas
    as a posted message (plus the token's allowlist and limit); read its pieces() to run
    it (leaving them early stops the upstream request). Its usage row (kind `api`) is
    written however it ends."""
    return await completions.admit(
        user=user, token=token, model=model, messages=messages, options=options
    )


# Is this model open to the token's owner and in its allowlist (sync: the database thread)?
open_model = completions.open_model
# For an HTTP transport's own database work (its authentication): on the process's
# database thread, not a new connection per request (completions.process_context).
in_process_context = completions.in_process_context


async def rate_limit(*, user: AbstractBaseUser, token: ApiToken) -> completions.RateLimit | None:
    """The tightest hourly request limit on this token's calls, and what is left of it."""
    return await completions.arate_limit(user, token)


# --- Stopping and watching ---------------------------------------------------------------


async def stop(*, user: User, conversation_id: int, message_id: int | None = None) -> int:
    """Stop the answers being written in the conversation (both sides of a comparison),
    or only answer `message_id`, on whichever instance runs them (the upstream requests
    are closed: no more tokens paid for). Returns the id of one of them."""
    live: Message | None = await database_sync_to_async(_live_answer)(user, conversation_id)
    if live is None:
        raise ActionError("not_streaming", _("Nothing is being written right now."))
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is configured in settings"
    # None: every answer of the conversation (two run at once only in a comparison).
    await layer.group_send(events.control_group(conversation_id), events.stop_event(message_id))
    return message_id or live.pk


async def request_snapshot(
    *, user: User, conversation_id: int, reply_channel: str
) -> events.SnapshotFrame | None:
    """The last answer on the active path, as a snapshot frame.

    While it streams, only the process running it knows the text not yet checkpointed:
    the request goes to it (any instance) and the snapshot arrives on `reply_channel`
    (None is returned). Otherwise the frame is returned, from the database.
    """
    last, compared = await database_sync_to_async(_last_answer)(user, conversation_id)
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is configured in settings"
    if compared is not None:
        # An open comparison: its other side's snapshot comes on `reply_channel` too.
        if compared.is_live:
            await layer.group_send(
                events.control_group(conversation_id),
                events.snapshot_request(compared.pk, reply_channel),
            )
        else:
            frame = events.snapshot_frame(compared.as_event())
            await layer.send(reply_channel, events.forward(frame))
    if last is not None and last.is_live:
        await layer.group_send(
            events.control_group(conversation_id), events.snapshot_request(last.pk, reply_channel)
        )
        return None
    return events.snapshot_frame(last.as_event() if last else None)


async def watch(*, user: User, message_id: int) -> AsyncGenerator[events.ServerFrame, None]:
    """The frames of one answer, for a client that joins or rejoins it on any instance.

    A snapshot first (the text so far, with its `seq`), then every later delta exactly
    once, in order, ending with `done`; an answer already ended gives its `done` alone.
    A delta lost by the channel layer (a gap in `seq`) brings a fresh snapshot. Leaving
    the iteration (a client gone) never stops the answer: stop() does.
    """
    message = await database_sync_to_async(_owned_message)(user, message_id)
    if not message.is_live:
        yield events.done_frame(message.as_event())
        return
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is configured in settings"
    channel = await layer.new_channel()
    await layer.group_add(events.conversation_group(message.conversation_id), channel)
    try:
        frames = Watch(layer, channel, message)
        async for frame in frames:
            yield frame
    finally:
        await layer.group_discard(events.conversation_group(message.conversation_id), channel)
        await layers.release_channel(layer, channel)


async def watch_conversation(
    *, user: User, conversation_id: int
) -> AsyncGenerator[events.ServerFrame, None]:
    """Every frame of a conversation (messages, deltas, ends, titles, branch changes) for a
    client that joins or rejoins it: first a snapshot of its last answer (the text so far
    while it streams, its end once it has ended, null with no answer), then every frame
    as it comes, until the caller leaves. A client resumes an answer from the snapshot by
    `seq` (docs/protocol.md, "Staying in step"); the WebSocket forwards the same frames
    on its own channel, which also carries its closes."""
    await database_sync_to_async(_owned)(user, conversation_id)
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is configured in settings"
    channel = await layer.new_channel()
    group = events.conversation_group(conversation_id)
    await layer.group_add(group, channel)
    try:
        # Joined first: nothing published from here on is missed.
        first = await request_snapshot(
            user=user, conversation_id=conversation_id, reply_channel=channel
        )
        if first is not None:
            yield first
        while True:
            event = await layer.receive(channel)
            frame = event.get("frame") if event.get("type") == "chat.frame" else None
            if frame is not None:
                yield frame
    finally:
        await layer.group_discard(group, channel)
        await layers.release_channel(layer, channel)


# --- Database steps (the database thread) ------------------------------------------------


def _user_id(user: User) -> int:
    return int(user.pk) if user.is_authenticated and user.pk is not None else 0


def _owned(user: User, conversation_id: int) -> Conversation:
    try:
        return Conversation.objects.for_user(user).get(pk=conversation_id)
    except Conversation.DoesNotExist:
        # Deleted (perhaps from another tab), or never the user's: the same answer.
        raise ActionError("not_found", _("This conversation was deleted.")) from None


def _owned_message(user: User, message_id: int) -> Message:
    message = (
        Message.objects.filter(pk=message_id, conversation__user_id=_user_id(user))
        .select_related("conversation")
        .first()
    )
    if message is None:
        raise ActionError(
            "message_not_found", _("That message is not in this conversation (any more).")
        )
    # A question's files, read here: its frame is made on the event loop.
    message.attachment_list()
    return unless_abandoned(message) or message


def _switch(user: User, conversation_id: int, message_id: object) -> Message:
    return actions.switch_branch(conversation=_owned(user, conversation_id), message_id=message_id)


def _delete(user: User, conversation_id: int, message_id: object) -> None:
    actions.delete_message(conversation=_owned(user, conversation_id), message_id=message_id)


def _live_answer(user: User, conversation_id: int) -> Message | None:
    live = unless_abandoned(_owned(user, conversation_id).live_answer())
    return live if live is not None and live.is_live else None


def _last_answer(user: User, conversation_id: int) -> tuple[Message | None, Message | None]:
    """The last answer on the active path, and the other side of an open comparison."""
    conversation = _owned(user, conversation_id)
    path = conversation.active_thread() if conversation.compare_with_id else None
    if path is None:
        path = conversation.active_path()
    last = next((m for m in reversed(path) if m.role == Message.Role.ASSISTANT), None)
    compared = last.compared if last is not None else None
    return unless_abandoned(last), unless_abandoned(compared)
