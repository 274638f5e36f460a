"""A conversation's title, asked of the model after its first answer (AUTO_TITLE)."""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

from catalog import usage as usage_ledger
from catalog.models import UsageRecord
from catalog.usage import UpstreamRequest
from chatweb import visibility
from conversations.models import Conversation, Message
from modelclient.providers import ChatMessage, OpenAICompatible, ProviderError, text_of
from realtime import events
from streaming.jobs import Job

log = logging.getLogger(__name__)

TITLE_PROMPT = (
    "Write a short title (at most six words) for the conversation below. "
    "Reply with the title only, no quotes, no punctuation at the end."
)
TIMEOUT_SECONDS = 20


def clean_title(raw: str) -> str:
    """One line, no quotes or markdown, no "Title:" preamble (models like to add one);
    empty if nothing in it shows (the title is then left as it is)."""
    title = " ".join(raw.split()).strip("\"'“”`*# ")
    if title.lower().startswith("title:"):
        title = title[len("title:") :].strip("\"'“”`*# ")
    return "" if visibility.is_blank(title) else title[:80]


def wanted(job: Job, status: str) -> bool:
    """A title request follows the end: the first exchange, done, titles on."""
    return (
        settings.AUTO_TITLE
        and job.first_exchange
        and status == Message.Status.DONE
        and job.model is not None
        and any(m["role"] == "user" for m in job.messages)
    )


def save(conversation_id: int, expected: str, title: str, row: UsageRecord) -> bool:
    """Record the title request's usage, and replace the first-message title unless the
    user renamed it meanwhile."""
    with transaction.atomic():
        usage_ledger.record_all([row])
        if not title:
            return False
        return Conversation.objects.retitle(conversation_id, expected=expected, title=title)


async def make_title(
    job: Job, provider: OpenAICompatible, answer_text: str
) -> events.TitleFrame | None:
    """Ask the title model for a title; the frame to publish when one was saved."""
    first_user = next((m for m in job.messages if m["role"] == "user"), None)
    if first_user is None or job.model is None:
        return None
    prompt: list[ChatMessage] = [
        {"role": "system", "content": TITLE_PROMPT},
        {"role": "user", "content": text_of(first_user["content"])[:1000]},
        {"role": "assistant", "content": answer_text[:1000]},
    ]
    request: UpstreamRequest = job.request(UsageRecord.Kind.TITLE, prompt)
    conversation_id = job.answer.conversation_id
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            raw, request.usage = await provider.complete_with_usage(
                model=job.model.title_model_id, messages=prompt
            )
        request.parts.append(raw)
    except (ProviderError, TimeoutError) as exc:
        log.info("No title for conversation %s: %s", conversation_id, exc)
        await database_sync_to_async(usage_ledger.record_all)(
            [request.entry(outcome=Message.Status.ERROR)]
        )
        return None
    title = clean_title(raw)
    row = request.entry(outcome=Message.Status.DONE)
    if await database_sync_to_async(save)(conversation_id, job.title, title, row):
        return events.title_frame(conversation_id, title)
    return None
