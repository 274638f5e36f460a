"""What the model is sent for an answer: the system prompt and the branch leading to it,
fitted to the model's window (real token counts, catalog.tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.conf import settings

from catalog import config as catalog
from catalog import tokens
from conversations.models import Conversation, Message
from modelclient.providers import ChatMessage


@dataclass(frozen=True)
class Context:
    messages: list[ChatMessage]
    # The oldest history message sent; None when nothing older was left out.
    first_id: int | None


def fit_context(conversation: Conversation, answer: Message, *, budget: int) -> Context:
    """The messages the model is sent for `answer`, rebuilt from the database.

    The system prompt (always), then the branch leading to the answer (or only the last
    user message when the conversation's context is off), in whole turns (a question and
    the answers that follow it): the newest kept, the oldest dropped to fit `budget`
    tokens (the model's window minus its output budget), so an answer is never sent
    without its question. The newest turn (the message being answered) is always sent.
    """
    path = conversation.path_to(answer.parent_id) if answer.parent_id else []
    history = [m for m in path if m.role in (Message.Role.USER, Message.Role.ASSISTANT)]
    history = [m for m in history if m.content]
    if not conversation.context_enabled:
        history = history[-1:]
    system = conversation.system_prompt or settings.SYSTEM_PROMPT
    remaining = budget - tokens.count_message(system) - tokens.REPLY_OVERHEAD
    turns: list[list[Message]] = []
    for message in history:
        if message.role == Message.Role.USER or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    kept: list[Message] = []
    for turn in reversed(turns):
        cost = sum(tokens.count_message(m.content) for m in turn)
        if kept and cost > remaining:
            break
        remaining -= cost
        kept[:0] = turn
    first_id = kept[0].pk if kept and len(kept) < len(history) else None
    context: list[ChatMessage] = [{"role": "system", "content": system}]
    for message in kept:
        role: Literal["user", "assistant"] = (
            "user" if message.role == Message.Role.USER else "assistant"
        )
        context.append({"role": role, "content": message.content})
    return Context(context, first_id)


def build_context(conversation: Conversation, answer: Message) -> list[ChatMessage]:
    """fit_context() with the budget of the answer's model (from the catalog)."""
    return fit_context(conversation, answer, budget=catalog.input_budget(answer.model)).messages
