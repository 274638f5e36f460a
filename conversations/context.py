"""What the model is sent for an answer: the system prompt and the branch leading to it,
fitted to the model's window (real token counts, catalog.tokens)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from accounts.models import UserSettings, settings_for
from catalog import config as catalog
from catalog import tokens
from conversations import attachments as attaching
from conversations import context_parts as parts
from conversations.attachment_models import Attachment
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
    # The newest message's documents that did not fit whole, and how much of each was sent.
    cut: list[parts.Cut] = field(default_factory=list)
    # The images the messages' parts name by placeholder (context_parts.load_images()).
    images: dict[int, Attachment] = field(default_factory=dict)


def fit_context(
    conversation: Conversation, answer: Message, *, budget: int, images: bool = False
) -> Context:
    """The messages the model is sent for `answer`, rebuilt from the database.

    The system message (system_message(); always, unless it is empty), then the branch
    leading to the answer (or only the last user message when the conversation's context
    is off), in whole turns (a question and the answers that follow it): the newest kept,
    the oldest dropped to fit `budget` tokens (the model's window minus its output
    budget; the system message's tokens count), so an answer is never sent without its
    question. The newest turn (the message being answered) is always sent; when it is
    over the budget, its documents' text is cut to what fits (Context.cut says how much).

    A message's attachments (#21) go with it (context_parts): documents as labelled text,
    images as image_url parts when the model reads them (`images`), else as notes. Their
    tokens count: a document's text_tokens, an image's by OpenAI's formula.
    """
    path = conversation.path_to(answer.parent_id) if answer.parent_id else []
    history = [m for m in path if m.role in (Message.Role.USER, Message.Role.ASSISTANT)]
    history = [m for m in history if m.content or m.attachment_count]
    if not conversation.context_enabled:
        history = history[-1:]
    attaching.load_for(history)
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
    limits: dict[int, int] = {}
    cut: list[parts.Cut] = []
    for turn in reversed(turns):
        cost = sum(parts.cost(m, images=images) for m in turn)
        if kept and cost > remaining:
            break
        if not kept and cost > remaining:
            limits = parts.cut_to_fit(turn, remaining, images=images)
            cut = parts.cuts(turn, limits)
        remaining -= cost
        kept[:0] = turn
    first_id = kept[0].pk if kept and len(kept) < len(history) else None
    context: list[ChatMessage] = [{"role": "system", "content": system}] if system else []
    for message in kept:
        if message.role == Message.Role.USER:
            content = parts.content(message, images=images, limits=limits)
            context.append({"role": "user", "content": content})
        else:
            context.append({"role": "assistant", "content": message.content})
    sent_images = parts.images_of(kept) if images else {}
    return Context(context, first_id, cut, sent_images)


def build_context(conversation: Conversation, answer: Message) -> list[ChatMessage]:
    """fit_context() with the budget of the answer's model (from the catalog); images
    still placeholders (context_parts.load_images())."""
    budget = catalog.input_budget(answer.model)
    images = catalog.accepts_images(answer.model)
    return fit_context(conversation, answer, budget=budget, images=images).messages
