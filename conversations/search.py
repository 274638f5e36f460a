"""Search across one user's conversations: titles, message text and the text extracted
from the documents attached to messages (#21: a hit there is the message's, its snippet
named after the file).

PostgreSQL: full-text search (to_tsvector with the 'simple' configuration, so any
language matches word for word, served by a GIN index, migration 0004) with
ts_headline snippets. SQLite: a case-insensitive substring match with a snippet cut
around the first hit. Either way a search is a fixed number of queries, however many
conversations the user has, and only the user's own are searched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection
from django.utils.html import escape

from conversations import fields
from conversations.models import Attachment, Conversation, Message

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

SEARCH_CONFIG = "simple"
MAX_QUERY_CHARS = 200
MAX_RESULTS = 30
SNIPPET_CHARS = 160
# Markers ts_headline puts around a hit; escaped text can never contain them, so the
# snippet is escaped first and the markers become <mark> afterwards.
START, STOP = "\x02", "\x03"


@dataclass(frozen=True)
class Hit:
    conversation_id: int
    title: str
    message_id: int | None  # None: the title matched
    snippet_html: str  # escaped text with <mark> around the hits
    archived: bool = False  # out of the sidebar: the result says so

    @property
    def url(self) -> str:
        base = f"/c/{self.conversation_id}/"
        if self.message_id is None:
            return base
        return f"{base}?message={self.message_id}#message-{self.message_id}"

    def as_json(self) -> dict[str, object]:
        return {
            "conversation_id": self.conversation_id,
            "title": self.title,
            "message_id": self.message_id,
            "snippet_html": self.snippet_html,
            "url": self.url,
            "archived": self.archived,
        }


def _marked(text: str) -> str:
    """Escape a snippet carrying START/STOP markers and turn the markers into <mark>."""
    return str(escape(text)).replace(START, "<mark>").replace(STOP, "</mark>")


def _snippet(text: str, query: str) -> str:
    """SQLite: a window of the text around the first hit, every hit in it marked."""
    flat = " ".join(text.split())
    at = flat.lower().find(query.lower())
    if at < 0:
        return str(escape(flat[:SNIPPET_CHARS]))
    start = max(0, at - SNIPPET_CHARS // 3)
    window = flat[start : start + SNIPPET_CHARS]
    pattern = re.compile(re.escape(query), re.IGNORECASE)
    marked = pattern.sub(lambda m: f"{START}{m.group(0)}{STOP}", window)
    prefix = "…" if start else ""
    suffix = "…" if start + SNIPPET_CHARS < len(flat) else ""
    return prefix + _marked(marked) + suffix


def _from_file(name: str, snippet_html: str) -> str:
    return f"{escape(name)}: {snippet_html}"


def _without_repeats(hits: list[Hit], more: list[Hit]) -> list[Hit]:
    """`hits` and then those of `more` on a message no hit is on yet (newest first)."""
    seen: set[int | None] = {h.message_id for h in hits if h.message_id is not None}
    for hit in more:
        if hit.message_id not in seen:
            seen.add(hit.message_id)
            hits.append(hit)
    return hits


def clean_query(query: object) -> str:
    if not isinstance(query, str):
        return ""
    return fields.clean_text(" ".join(query.split())[:MAX_QUERY_CHARS])


def search(
    *, user: AbstractBaseUser | AnonymousUser, query: object, project_id: int | None = None
) -> list[Hit]:
    """The user's matching conversations (by title) and messages, newest first; only
    those of the project `project_id` when given (the caller checked it is the user's)."""
    text = clean_query(query)
    if not text or not user.is_authenticated:
        return []
    # Temporary chats are never found (nor listed): they are meant to leave no trace.
    conversations = Conversation.objects.for_user(user).listed()
    messages = Message.objects.filter(
        conversation__user_id=user.pk,
        conversation__importing=False,
        conversation__expires_at__isnull=True,
    ).exclude(role=Message.Role.SYSTEM)
    if project_id is not None:
        conversations = conversations.filter(project_id=project_id)
        messages = messages.filter(conversation__project_id=project_id)
    if connection.vendor == "postgresql":
        return _search_postgres(conversations, messages, text)
    return _search_simple(conversations, messages, text)


def _search_simple(conversations, messages, text: str) -> list[Hit]:  # type: ignore[no-untyped-def]
    hits = [
        Hit(c.pk, c.title, None, _snippet(c.title, text), c.archived)
        for c in conversations.filter(title__icontains=text).only("pk", "title", "archived")[
            :MAX_RESULTS
        ]
    ]
    rows = (
        messages.filter(content__icontains=text)
        .select_related("conversation")
        .only("pk", "content", "conversation_id", "conversation__title", "conversation__archived")
        .order_by("-created_at", "-id")[:MAX_RESULTS]
    )
    hits += [
        Hit(
            m.conversation_id,
            m.conversation.title,
            m.pk,
            _snippet(m.content, text),
            m.conversation.archived,
        )
        for m in rows
    ]
    files = (
        Attachment.objects.filter(message__in=messages.values("pk"), text__icontains=text)
        .select_related("message__conversation")
        .only(
            "name",
            "text",
            "message_id",
            "message__conversation_id",
            "message__conversation__title",
            "message__conversation__archived",
        )
        .order_by("-message__created_at", "-message_id", "position")[:MAX_RESULTS]
    )
    return _without_repeats(
        hits,
        [
            Hit(
                a.message.conversation_id,
                a.message.conversation.title,
                a.message_id,
                _from_file(a.name, _snippet(a.text, text)),
                a.message.conversation.archived,
            )
            for a in files
            if a.message is not None
        ],
    )[:MAX_RESULTS]


def _search_postgres(conversations, messages, text: str) -> list[Hit]:  # type: ignore[no-untyped-def]
    from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchVector

    q = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")

    def headline(column: str) -> SearchHeadline:
        return SearchHeadline(
            column,
            q,
            config=SEARCH_CONFIG,
            start_sel=START,
            stop_sel=STOP,
            max_words=30,
            min_words=12,
        )

    title_rows = (
        conversations.annotate(doc=SearchVector("title", config=SEARCH_CONFIG))
        .filter(doc=q)
        .annotate(snip=headline("title"))
        .values_list("pk", "title", "snip", "archived")[:MAX_RESULTS]
    )
    hits = [Hit(pk, title, None, _marked(snip), old) for pk, title, snip, old in title_rows]
    message_rows = (
        messages.annotate(doc=SearchVector("content", config=SEARCH_CONFIG))
        .filter(doc=q)
        .annotate(snip=headline("content"))
        .order_by("-created_at", "-id")
        .values_list(
            "conversation_id", "conversation__title", "pk", "snip", "conversation__archived"
        )[:MAX_RESULTS]
    )
    hits += [Hit(cid, title, pk, _marked(snip), old) for cid, title, pk, snip, old in message_rows]
    file_rows = (
        Attachment.objects.filter(message__in=messages.values("pk"))
        .annotate(doc=SearchVector("text", config=SEARCH_CONFIG))
        .filter(doc=q)
        .annotate(snip=headline("text"))
        .order_by("-message__created_at", "-message_id", "position")
        .values_list(
            "message__conversation_id",
            "message__conversation__title",
            "message_id",
            "name",
            "snip",
            "message__conversation__archived",
        )[:MAX_RESULTS]
    )
    return _without_repeats(
        hits,
        [
            Hit(cid, title, pk, _from_file(name, _marked(snip)), old)
            for cid, title, pk, name, snip, old in file_rows
        ],
    )[:MAX_RESULTS]


def focus_message(*, conversation: Conversation, message_id: int) -> bool:
    """Make the branch holding message_id the conversation's active one, for a search jump.

    The active path becomes the message's ancestors, the message, and its newest
    continuation. Nothing moves while an answer is being written, or if the message is
    not this conversation's. True if the active branch changed.
    """
    messages = list(conversation.messages.only("pk", "parent_id", "status", "created_at"))
    by_id = {m.pk: m for m in messages}
    target = by_id.get(message_id)
    if target is None or any(m.is_live for m in messages):
        return False
    if message_id in {m.pk for m in conversation.active_path()}:
        return False
    children: dict[int, list[Message]] = {}
    for m in messages:
        if m.parent_id is not None:
            children.setdefault(m.parent_id, []).append(m)
    leaf = target
    while children.get(leaf.pk):
        leaf = max(children[leaf.pk], key=lambda m: (m.created_at, m.pk))
    conversation.current_leaf = leaf
    conversation.save(update_fields=["current_leaf"])
    return True
