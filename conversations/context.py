"""What the model is sent for an answer: the system prompt and the branch leading to it,
fitted to the model's window (real token counts, catalog.tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.conf import settings

from accounts.models import UserSettings, settings_for
from catalog import config as catalog
from catalog import tokens
from conversations.models import Conversation, Message
from modelclient.providers import ChatMessage


def custom_instructions(preferences: UserSettings) -> str:
    """The user's custom instructions as the model reads them: each part labelled."""
    parts = []
    if about := preferences.instructions_about.strip():
        parts.append(f"What the user wants you to know about them:\n{about}")
    if style := preferences.instructions_style.strip():
        parts.append(f"How the user wants you to answer:\n{style}")
    if not parts:
        return ""
    return "\n\n".join(["The user's custom instructions.", *parts])


def project_instructions(conversation: Conversation) -> str:
    """The instructions of the conversation's project (#22), labelled; "" outside one.

    Read without a query when the caller selected the project with the conversation
    (streaming.jobs.load, actions.post_user_message), and none is read outside projects.
    """
    if conversation.project_id is None:
        return ""
    project = conversation.project
    if project is None or not (text := project.instructions.strip()):
        return ""
    return f"Instructions for the project “{project.name}”:\n{text}"


def system_message(conversation: Conversation) -> str:
    """The one system message sent upstream, its parts in this order (empty ones left out):

    1. the site's SYSTEM_PROMPT;
    2. the owner's custom instructions, unless switched off for this conversation;
    3. the instructions of the conversation's project, if it is in one;
    4. the conversation's own system prompt.

    A conversation's prompt adds to the site's rather than replacing it (it did before
    #22): the site's prompt is the operator's, the conversation's is the user's.
    """
    parts = [settings.SYSTEM_PROMPT.strip()]
    if conversation.instructions_enabled:
        parts.append(custom_instructions(settings_for(conversation.user)))
    parts.append(project_instructions(conversation))
    parts.append(conversation.system_prompt.strip())
    return "\n\n".join(part for part in parts if part)


@dataclass(frozen=True)
class Context:
    messages: list[ChatMessage]
    # The oldest history message sent; None when nothing older was left out.
    first_id: int | None


def fit_context(conversation: Conversation, answer: Message, *, budget: int) -> Context:
    """The messages the model is sent for `answer`, rebuilt from the database.

    The system message (system_message(); always, unless it is empty), then the branch
    leading to the answer (or only the last user message when the conversation's context
    is off), in whole turns (a question and the answers that follow it): the newest kept,
    the oldest dropped to fit `budget` tokens (the model's window minus its output
    budget; the system message's tokens count), so an answer is never sent without its
    question. The newest turn (the message being answered) is always sent.
    """
    path = conversation.path_to(answer.parent_id) if answer.parent_id else []
    history = [m for m in path if m.role in (Message.Role.USER, Message.Role.ASSISTANT)]
    history = [m for m in history if m.content]
    if not conversation.context_enabled:
        history = history[-1:]
    system = system_message(conversation)
    remaining = budget - tokens.REPLY_OVERHEAD
    if system:
        remaining -= tokens.count_message(system)
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
    context: list[ChatMessage] = [{"role": "system", "content": system}] if system else []
    for message in kept:
        role: Literal["user", "assistant"] = (
            "user" if message.role == Message.Role.USER else "assistant"
        )
        context.append({"role": role, "content": message.content})
    return Context(context, first_id)


def build_context(conversation: Conversation, answer: Message) -> list[ChatMessage]:
    """fit_context() with the budget of the answer's model (from the catalog)."""
    return fit_context(conversation, answer, budget=catalog.input_budget(answer.model)).messages
