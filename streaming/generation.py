"""One answer's life, once it is posted: context -> model -> deltas -> saved.

A generation runs as a task owned by the process (streaming.registry), never by a
socket: closing every tab does not stop it. It joins the conversation's control group
under its own channel, so Stop and snapshot requests reach it from any tab on any
instance. It talks to sockets only through the conversation group (best effort: a
channel-layer failure drops frames, never the answer), and to the database a bounded
number of times: checkpoints at most every CHECKPOINT_SECONDS (streaming.checkpoints,
plus a heartbeat while the upstream is silent) and the end, retried while the database
is unreachable. Its life on the row is the model's (MessageQuerySet: claim, checkpoint,
finish, end_interrupted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings

from catalog import config as catalog
from catalog.models import UsageRecord
from catalog.usage import UpstreamRequest
from chatweb import logs, prometheus
from conversations.fields import clean_text
from conversations.models import Message, Outcome
from modelclient import netio
from modelclient.providers import OpenAICompatible, Usage
from realtime import events
from realtime.events import MessageData
from streaming import control, jobs, layers, titles
from streaming.checkpoints import RETRYABLE, Outage, checkpoints
from streaming.coalescing import DeltaStream
from streaming.ending import Ending
from streaming.jobs import Job, TokenMeter
from streaming.registry import registry
from streaming.thinking import Thoughts

log = logging.getLogger(__name__)

CONTINUE_PROMPT = (
    "Your previous reply was cut off by the length limit. Continue exactly where it "
    "stopped, without repeating anything and without any preamble."
)


class Generation:
    def __init__(
        self,
        *,
        message_id: int,
        conversation_id: int,
        channel: str,
        layer: BaseChannelLayer,
        provider: OpenAICompatible | None,
        job: Job | None = None,
    ) -> None:
        self.message_id = message_id
        self._job = job  # read with the post (streaming.answers); else run() reads it
        self.conversation_id = conversation_id
        self.channel = channel
        self.layer = layer
        self.provider = provider
        self.group = events.conversation_group(conversation_id)
        self.answer: Message | None = None
        self.deltas = DeltaStream(message_id, publish=self._publish, checkpoint=self._checkpoint)
        self.usage: Usage | None = None
        self.requests: list[UpstreamRequest] = []  # not yet in the ledger
        self.context_from_id: int | None = None
        self.stop_requested = False
        self._pump: asyncio.Task[str | None] | None = None
        self._outage = Outage()
        self.ending = Ending(message_id, publish=self._publish)
        self._layer_failures = 0
        self.thoughts = Thoughts()
        self.request_id = logs.request_id.get()  # its starter's (checkpoints log under it)

    @property
    def text(self) -> str:
        return self.deltas.text

    @property
    def reasoning(self) -> str:
        return self.deltas.reasoning

    def stop(self) -> None:
        self.stop_requested = True
        if self._pump is not None:
            self._pump.cancel()

    def snapshot(self) -> MessageData | None:
        """The answer as sent so far: every delta up to `seq`, none after (or its end,
        while that waits for the database)."""
        if self.ending.unsaved is not None:
            return self.ending.unsaved
        if self.answer is None:
            return None
        event = self.answer.as_event(seq=self.deltas.seq)
        event["status"] = Message.Status.STREAMING
        event["content"] = self.deltas.sent_text()
        event["reasoning"] = self.deltas.sent_reasoning()
        return event

    async def run(self) -> None:
        listener = asyncio.create_task(control.listen(self))
        flusher: asyncio.Task[None] | None = None
        try:
            job = await jobs.with_images(self._job or await self._load())
            self._job = None
            if job is None:
                return
            self.answer = job.answer
            self.context_from_id = job.context_from_id
            log.info("Answer %s started (%s)", self.message_id, job.model and job.model.name)
            if self.provider is None and job.model is not None:
                self.provider = OpenAICompatible(job.model.config)
            flusher = asyncio.create_task(self.deltas.run())
            outcome = await self._stream(job)
            self.deltas.close()
            await flusher
            await self.deltas.flush()
            # A checkpoint not yet written is not needed (the end holds all the text);
            # one being written is waited for, so it cannot follow the end.
            await checkpoints.discard(self)
            message = await self._save_end(outcome)
            log.info(
                "Answer %s ended: %s%s",
                self.message_id,
                outcome.status,
                f" ({outcome.error_code})" if outcome.error_code else "",
            )
            prometheus.answer_ended("answer", outcome.status)
            await control.stop_listening(self, listener)
            if message is not None and self.provider and titles.wanted(job, outcome.status):
                title = await titles.make_title(job, self.provider, self.text)
                if title is not None:
                    await self._publish(title)
        except asyncio.CancelledError:
            # The process is shutting down: keep what arrived, say what happened.
            prometheus.answer_ended("answer", Message.Status.INTERRUPTED)
            await self._end_interrupted()
            raise
        finally:
            if not listener.done():
                await control.stop_listening(self, listener)
            if flusher is not None and not flusher.done():
                flusher.cancel()  # only on the way out of an error or a shutdown
            try:
                await self.layer.group_discard(
                    events.control_group(self.conversation_id), self.channel
                )
                await layers.release_channel(self.layer, self.channel)
            except Exception as exc:
                prometheus.layer_error("group_discard")
                log.warning(
                    "Answer %s: could not leave its control group: %r", self.message_id, exc
                )

    async def _load(self) -> Job | None:
        """Read the job, retrying while the database is unreachable (bounded)."""
        delay = 0.1
        deadline = time.monotonic() + settings.DATABASE_RETRY_SECONDS
        while True:
            try:
                job: Job | None = await database_sync_to_async(jobs.load)(self.message_id)
                return job
            except RETRYABLE as exc:
                prometheus.database_error("load")
                if time.monotonic() + delay > deadline:
                    log.error("Answer %s: no database, not started: %r", self.message_id, exc)
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    # --- The upstream rounds ------------------------------------------------------------

    async def _stream(self, job: Job) -> Outcome:
        """Run the upstream rounds in a task Stop can cancel; say how it ended."""
        self._pump = asyncio.create_task(self._rounds(job))
        if self.stop_requested:  # Stop arrived while the answer was being loaded.
            self._pump.cancel()
        current = asyncio.current_task()
        try:
            return Outcome.done(await self._pump)
        except asyncio.CancelledError:
            if current is not None and current.cancelling():
                raise
            if not self.stop_requested:
                raise
            return Outcome.stopped()
        except Exception as exc:
            return jobs.failure(exc, what=f"Answer {self.message_id}")

    async def _rounds(self, job: Job) -> str | None:
        """Stream the answer, continuing it while the upstream stops for "length"."""
        if job.model is None or self.provider is None:
            raise job.error or catalog.ModelUnavailable("model_unavailable", "")
        model, options = job.model.model_id, job.options()
        messages = job.messages
        meter = TokenMeter(job.budget)
        finish_reason: str | None = None
        loop = asyncio.get_running_loop()
        deltas, thoughts = self.deltas, self.thoughts
        pending, notify, thinking = deltas.pending, deltas.notify, deltas.reasoning_pending
        # Reads gather what arrives until just before the next delta is due (flush).
        netio.READ_HOLD.set(deltas.read_hold)
        try:
            for round_ in range(settings.MAX_CONTINUATIONS + 1):
                finish_reason = None
                kind = UsageRecord.Kind.CONTINUATION if round_ else UsageRecord.Kind.ANSWER
                request = job.request(kind, messages)
                self.requests.append(request)
                parts = request.parts
                round_options = meter.start_round(messages, options)
                async with contextlib.aclosing(
                    self.provider.stream_chat(model=model, messages=messages, options=round_options)
                ) as stream:
                    async for delta in stream:
                        if delta.text or delta.reasoning:
                            piece = delta.reasoning + delta.text
                            parts.append(piece)
                            text, reasoning = thoughts.take(delta.text, delta.reasoning)
                            if reasoning:
                                thinking.append(reasoning)
                            if text:
                                pending.append(text)
                            notify()
                            if meter.budget is not None:
                                meter.piece(piece)
                            if loop.time() >= deltas.next_flush:
                                # A delta is due. A fast upstream's body is already
                                # buffered, so reading it never waits: let the flusher run.
                                await asyncio.sleep(0)
                        if delta.finish_reason:
                            finish_reason = delta.finish_reason
                        if delta.usage:
                            request.usage = delta.usage
                            self._add_usage(delta.usage)
                if finish_reason != "length":
                    break
                messages = [
                    *job.messages,
                    {"role": "assistant", "content": self.text},
                    {"role": "user", "content": CONTINUE_PROMPT},
                ]
        finally:
            # What the splitter held back (part of a tag, or an unclosed block's end).
            text, reasoning = thoughts.finish()
            if reasoning:
                thinking.append(reasoning)
            if text:
                pending.append(text)
        return finish_reason

    def _add_usage(self, usage: Usage) -> None:
        if self.usage is None:
            self.usage = usage.copy()
            return
        self.usage["prompt_tokens"] += usage["prompt_tokens"]
        self.usage["completion_tokens"] += usage["completion_tokens"]
        self.usage["total_tokens"] += usage["total_tokens"]
        if "reasoning_tokens" in usage:
            spent = self.usage.get("reasoning_tokens", 0) + usage["reasoning_tokens"]
            self.usage["reasoning_tokens"] = spent

    # --- Checkpoints --------------------------------------------------------------------

    def _checkpoint(self, with_text: bool) -> None:
        """Save the text in the background: a slow or unreachable database never delays
        a delta. The process's checkpoints go together (streaming.checkpoints), at most
        one of this answer's at a time; the text is taken when it is written."""
        checkpoints.add(self, with_text=with_text)

    def checkpoint_text(self) -> str:
        return self.deltas.sent_text()

    def checkpoint_reasoning(self) -> str:
        return self.deltas.sent_reasoning()

    def checkpointed(self, error: Exception | None) -> None:
        """How this answer's checkpoint went (streaming.checkpoints writes it with others').

        While the database is unreachable the answer streams on: its text goes to its
        spill file instead, however long the outage lasts. Called by the checkpoints' task:
        its lines are logged under this answer's request id."""
        if error is None:
            self._outage.ok()
            return
        prometheus.database_error("checkpoint")
        with logs.bound(self.request_id):
            self._checkpoint_failed(error)

    def _checkpoint_failed(self, error: Exception) -> None:
        if isinstance(error, RETRYABLE):
            if self._outage.since is None:  # once per outage, not once per checkpoint
                log.warning(
                    "Answer %s: checkpoint failed, the text goes to disk meanwhile: %r",
                    self.message_id, error,
                )  # fmt: skip
            self._outage.failed()
            self.ending.keep_text(self.deltas.sent_text())
        else:
            log.error("Answer %s: checkpoint failed", self.message_id, exc_info=error)

    # --- The channel layer ----------------------------------------------------------------

    async def _publish(self, frame: events.ServerFrame) -> None:
        """Best effort: a frame the channel layer refuses (ChannelFull, Redis down) is
        dropped; the database is the truth and clients resync by `seq`."""
        try:
            await self.layer.group_send(self.group, events.forward(frame))
        except Exception as exc:
            prometheus.layer_error("publish")
            self._layer_failures += 1
            if self._layer_failures == 1 or self._layer_failures % 100 == 0:
                log.warning(
                    "Answer %s: %d frame(s) not published: %r",
                    self.message_id,
                    self._layer_failures,
                    exc,
                )

    # --- The end --------------------------------------------------------------------------

    def _ledger(self, status: str) -> list[UsageRecord]:
        """The ledger rows of the requests not yet recorded (each is recorded once)."""
        requests, self.requests = self.requests, []
        return [request.entry(outcome=status) for request in requests]

    async def _save_end(self, outcome: Outcome) -> MessageData | None:
        return await self.ending.save(
            outcome, text=clean_text(self.text), usage=self.usage,
            context_from_id=self.context_from_id, ledger=self._ledger(outcome.status),
            answer=self.answer, reasoning=clean_text(self.reasoning),
            reasoning_seconds=self.thoughts.seconds,
        )  # fmt: skip

    def save_interrupted(self) -> MessageData | None:
        """End the answer as interrupted with the text this process holds (sync), or with
        its real end if one waits for the database (streaming.ending)."""
        return self.ending.save_interrupted(
            text=clean_text(self.text), usage=self.usage, context_from_id=self.context_from_id,
            ledger=self._ledger, answer=self.answer, reasoning=clean_text(self.reasoning),
            reasoning_seconds=self.thoughts.seconds,
        )  # fmt: skip

    async def _end_interrupted(self) -> None:
        if self.answer is None:
            return
        try:
            message = await database_sync_to_async(self.save_interrupted)()
            if message is not None:
                await self._publish(events.done_frame(message))
        except Exception:
            log.exception("Could not mark answer %s interrupted", self.message_id)


async def start(
    message_id: int,
    conversation_id: int,
    *,
    provider: OpenAICompatible | None = None,
    job: Job | None = None,
) -> asyncio.Task[None]:
    """Start the answer `message_id` in this process and return its task.

    `job`: the answer's job when the caller already read it (streaming.answers does).

    The control-group membership is in place before this returns, so a Stop sent right
    after a Send reaches the generation even if it has not run yet.
    """
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is configured in settings"
    # The default prefix matters: channels-redis reads every process-local channel of
    # one prefix through one blocking receive, so a separate prefix here would stall
    # every socket of this process while the generation waits for a Stop.
    existing = registry.running.get(message_id)
    if existing is None:
        channel = await layer.new_channel()
        existing = registry.running.get(message_id)  # started meanwhile?
    if existing is not None:
        return existing[1]  # one process runs an answer once
    generation = Generation(
        message_id=message_id,
        conversation_id=conversation_id,
        channel=channel,
        layer=layer,
        provider=provider,
        job=job,
    )
    task = registry.add(generation)
    try:
        await layer.group_add(events.control_group(conversation_id), channel)
    except Exception as exc:
        # Without the channel layer the answer still runs and is saved; only Stop and
        # snapshots from other tabs cannot reach it.
        prometheus.layer_error("group_add")
        log.warning("Answer %s: could not join its control group: %r", message_id, exc)
    return task
