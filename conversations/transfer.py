"""Export and import conversations: the entry points (exporting.py exports, import_plans.py
checks and plans an import, this module writes it).

Export: one conversation as JSON or Markdown, or all of a user's as JSON (the
"chatweb-export" format, version 1). Import: that format (a round trip gives the
same conversations, every branch included) or chatgpt-web's own history file
(chat-store_<date>.json from its settings page: the localStorage wrapper
{"data": {"active", "usingContext", "history": [...], "chat": [...]}, "expire": null}).

An import is checked whole before anything is written: a malformed, truncated, too
large or too deeply nested file, or one of more messages or characters than an import
may write in a few seconds (IMPORT_MAX_MESSAGES, IMPORT_MAX_CHARS), is refused with a
clear message and leaves the database as it was. It is then written in short
transactions, hidden until its last row is in. Imported HTML is never trusted: every
message is rendered again from its text by the server's sanitizing renderer.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import record
from audit.models import Action
from catalog import config as catalog
from conversations import import_files, markdown
from conversations.import_chatweb import plan_chatweb
from conversations.import_plans import plan_chatgpt_web
from conversations.models import Conversation, Message, Project

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

# The callers' entry points, re-exported from the modules that hold them.
from conversations.exporting import FORMAT as FORMAT
from conversations.exporting import VERSION as VERSION
from conversations.exporting import conversation_as_dict as conversation_as_dict
from conversations.exporting import export_markdown as export_markdown
from conversations.exporting import export_user as export_user
from conversations.exporting import json_chunks as json_chunks
from conversations.import_plans import ImportRefused as ImportRefused
from conversations.import_plans import PlannedConversation as PlannedConversation
from conversations.import_plans import PlannedMessage as PlannedMessage
from conversations.import_plans import parse_document as parse_document
from conversations.import_plans import parse_locale_datetime as parse_locale_datetime

# Rows written per transaction by an import: each holds SQLite's write lock for a few
# milliseconds (docs/security.md, "Imports").
BATCH = 50
# A conversation still hidden this long after its import began was left by a killed
# process (an import at the limits takes seconds).
STALE_IMPORT = dt.timedelta(hours=1)


def plan_import(document: object, *, now: dt.datetime) -> list[PlannedConversation]:
    """Recognise the file's kind and check it whole; nothing is written here."""
    if isinstance(document, dict) and document.get("format") == FORMAT:
        return plan_chatweb(document, now=now)
    if (
        isinstance(document, dict)
        and isinstance(document.get("data", document), dict)
        and ("chat" in document.get("data", document))
    ):
        return plan_chatgpt_web(document, now=now)
    raise ImportRefused(
        _(
            "This file is neither a Chatweb export nor a chatgpt-web history file "
            "(chat-store_<date>.json)."
        )
    )


# --- Import: writing ---------------------------------------------------------------------


def _message(conversation: Conversation, p: PlannedMessage) -> Message:
    usage = p.usage or {}
    return Message(
        conversation=conversation,
        role=p.role,
        content=p.content,
        html=markdown.render(p.content) if p.role == Message.Role.ASSISTANT and p.content else "",
        status=p.status,
        model=p.model,
        finish_reason=p.finish_reason,
        error_code=p.error_code,
        error=p.error,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
        reasoning_tokens=usage.get("reasoning_tokens"),
        reasoning=p.reasoning if p.role == Message.Role.ASSISTANT else "",
        reasoning_seconds=p.reasoning_seconds if p.role == Message.Role.ASSISTANT else None,
        rating=p.rating if p.role == Message.Role.ASSISTANT else "",
        rated_at=(p.finished_at or p.created_at)
        if p.role == Message.Role.ASSISTANT and p.rating
        else None,
        created_at=p.created_at,
        updated_at=p.finished_at or p.created_at,
        finished_at=p.finished_at or p.created_at,
        attachment_count=len(p.attachments),
    )


def _set_parents(pairs: list[tuple[int, int]]) -> None:
    """UPDATE the parents of many messages in one statement (message id, parent id).

    QuerySet.bulk_update builds a CASE of one expression per row, which took longer to
    build than the batch took to insert; a VALUES list joined by UPDATE ... FROM (SQLite
    3.33+, PostgreSQL; both name the columns column1, column2) is one small statement.
    """
    table = connection.ops.quote_name(Message._meta.db_table)
    values = ", ".join(["(%s, %s)"] * len(pairs))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET parent_id = v.column2 FROM (VALUES {values}) AS v "
            f"WHERE {table}.id = v.column1",
            [n for pair in pairs for n in pair],
        )


def _write_messages(
    plans: list[PlannedConversation], hidden: list[Conversation]
) -> dict[tuple[int, object], int]:
    """Every planned message, BATCH rows per short transaction, in the file's order.

    A batch is rendered before its transaction opens and written in two statements: the
    rows, then the parents that point inside the batch (their ids are known only once
    the rows are in). The file's order puts a parent before its children. Returns each
    message's id by (its plan's index, its key in the file).
    """
    saved: dict[tuple[int, object], int] = {}
    queue = [
        (i, conversation, p)
        for i, (plan, conversation) in enumerate(zip(plans, hidden, strict=True))
        for p in plan.messages
    ]
    for start in range(0, len(queue), BATCH):
        batch = queue[start : start + BATCH]
        rows = [_message(conversation, p) for _i, conversation, p in batch]
        inside: list[int] = []
        for n, ((i, _c, p), row) in enumerate(zip(batch, rows, strict=True)):
            if p.parent is not None and (i, p.parent) in saved:
                row.parent_id = saved[i, p.parent]
            elif p.parent is not None:
                inside.append(n)
        with transaction.atomic():
            Message.objects.bulk_create(rows)
            for (i, _c, p), row in zip(batch, rows, strict=True):
                saved[i, p.key] = row.pk
            if inside:
                _set_parents([(rows[n].pk, saved[batch[n][0], batch[n][2].parent]) for n in inside])
    for i, (plan, conversation) in enumerate(zip(plans, hidden, strict=True)):
        if plan.leaf is not None:
            conversation.current_leaf_id = saved[i, plan.leaf]
    return saved


def _projects_for(
    user: AbstractBaseUser, plans: list[PlannedConversation]
) -> tuple[list[int], dict[str, Project]]:
    """The user's projects the plans name, by name, those missing made (with the file's
    instructions, and its default model if the user may use it); and the ids of the ones
    made. Three queries at most, however many conversations."""
    wanted = {plan.project: plan for plan in plans if plan.project}
    if not wanted:
        return [], {}
    existing = set(
        Project.objects.filter(user_id=user.pk, name__in=wanted).values_list("name", flat=True)
    )
    allowed = {choice.name for choice in catalog.models_for(user)}
    missing = [
        Project(
            user_id=user.pk,
            name=name,
            instructions=plan.project_instructions,
            default_model=plan.project_model if plan.project_model in allowed else "",
        )
        for name, plan in wanted.items()
        if name not in existing
    ]
    # A project of the same name made meanwhile (another tab) is used, not duplicated.
    Project.objects.bulk_create(missing, ignore_conflicts=True)
    found = {p.name: p for p in Project.objects.filter(user_id=user.pk, name__in=wanted)}
    made = [found[p.name].pk for p in missing if p.name in found]
    return made, found


def import_file(*, user: AbstractBaseUser, raw: bytes) -> list[Conversation]:
    """Check the file whole, then write it in short transactions and show it at once.

    The conversations are written hidden (importing=True, stamped with the time of the
    import so a killed import's leftovers can be told apart), their messages a batch per
    transaction, and one last transaction shows them all with their own dates. If
    anything fails they are deleted: a refused or failed import leaves nothing to see.
    """
    now = timezone.now()
    plans = plan_import(parse_document(raw), now=now)
    # Every file checked and stored before any row: a refused one stores nothing.
    files = import_files.store(user, plans)
    # What a killed import left hidden goes, so it does not weigh on the database forever.
    Conversation.objects.filter(
        user_id=user.pk, importing=True, created_at__lt=now - STALE_IMPORT
    ).delete()
    made, in_project = _projects_for(user, plans)
    hidden = [
        Conversation(
            user_id=user.pk,
            project=in_project.get(plan.project),
            title=plan.title,
            model=plan.model,
            system_prompt=plan.system_prompt,
            context_enabled=plan.context_enabled,
            # Archiving unpins (organise.set_archived): a file saying both is archived.
            pinned=plan.pinned and not plan.archived,
            archived=plan.archived,
            instructions_enabled=plan.instructions_enabled,
            created_at=now,
            updated_at=plan.updated_at,
            importing=True,
        )
        for plan in plans
    ]
    try:
        for start in range(0, len(hidden), BATCH):
            with transaction.atomic():
                Conversation.objects.bulk_create(hidden[start : start + BATCH])
        import_files.link(user, files, _write_messages(plans, hidden))
        for plan, conversation in zip(plans, hidden, strict=True):
            conversation.created_at = plan.created_at
        # Still hidden: their own dates and last messages, a batch per transaction (the
        # next import of this user could now take them for a killed one's leftovers,
        # for the few milliseconds until the UPDATE below shows them).
        for start in range(0, len(hidden), BATCH):
            with transaction.atomic():
                Conversation.objects.bulk_update(
                    hidden[start : start + BATCH], ["created_at", "current_leaf"]
                )
        # One short statement shows them all at once.
        with transaction.atomic():
            Conversation.objects.filter(pk__in=[c.pk for c in hidden]).update(importing=False)
        for conversation in hidden:
            conversation.importing = False
    except BaseException:
        Conversation.objects.filter(pk__in=[c.pk for c in hidden if c.pk]).delete()
        Project.objects.filter(pk__in=made).delete()
        import_files.discard(files)
        raise
    record.record(
        Action.IMPORT,
        actor=user,
        target=user,
        details={
            "conversations": len(hidden),
            "messages": sum(len(plan.messages) for plan in plans),
        },
    )
    return hidden
