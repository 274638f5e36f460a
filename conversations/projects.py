"""Projects' workflows (#22): create, change, delete (keeping or deleting the
conversations), and moving a conversation in or out.

Keyword-only and validated before anything is written, like conversations.organise. A
move is one UPDATE of the conversation's project: two tabs moving the same conversation
both succeed and the last write wins (each page shows the outcome on its next load).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from catalog import config as catalog
from chatweb import visibility
from conversations.fields import clean_text
from conversations.models import Conversation, Project
from conversations.project_models import PROJECT_INSTRUCTIONS_MAX, PROJECT_NAME_MAX
from realtime import events
from realtime.codes import ProtocolError as ActionError
from realtime.publish import publish_to_user, stop_answers

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    User = AbstractBaseUser | AnonymousUser


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or visibility.is_blank(clean_text(name)):
        raise ActionError("project_name", _("A project needs a name."))
    name = " ".join(name.split())
    if len(name) > PROJECT_NAME_MAX:
        raise ActionError(
            "project_name",
            _("A project's name is at most %(limit)d characters.") % {"limit": PROJECT_NAME_MAX},
        )
    return name


def _clean_instructions(instructions: object) -> str:
    if instructions is None:
        return ""
    if not isinstance(instructions, str) or len(instructions) > PROJECT_INSTRUCTIONS_MAX:
        raise ActionError(
            "project_instructions",
            _("A project's instructions are at most %(limit)s characters.")
            % {"limit": f"{PROJECT_INSTRUCTIONS_MAX:,}"},
        )
    return instructions.strip()


def _clean_model(user: User, model: object) -> str:
    """Empty (the owner's default then applies), or a model the user may use."""
    if model in (None, ""):
        return ""
    try:
        return catalog.check_allowed(user, model)
    except catalog.ModelUnavailable as exc:
        raise ActionError(exc.code, exc.message) from exc


def _name_taken(name: str) -> ActionError:
    return ActionError(
        "project_exists", _("You already have a project named “%(name)s”.") % {"name": name}
    )


def _save(project: Project, *, update_fields: list[str] | None = None) -> Project:
    try:
        with transaction.atomic():  # A savepoint: a taken name leaves no broken transaction.
            if update_fields is None:
                project.save(force_insert=True)
            else:
                project.save(update_fields=update_fields)
    except IntegrityError:
        raise _name_taken(project.name) from None
    return project


def create_project(
    *, user: User, name: object, instructions: object = "", default_model: object = ""
) -> Project:
    if user.pk is None:
        raise ActionError("not_signed_in", _("Sign in to start a conversation."))
    project = Project(
        user_id=user.pk,
        name=_clean_name(name),
        instructions=_clean_instructions(instructions),
        default_model=_clean_model(user, default_model),
    )
    if Project.objects.filter(user_id=user.pk, name=project.name).exists():
        raise _name_taken(project.name)
    return _save(project)


def update_project(
    *, project: Project, name: object, instructions: object, default_model: object
) -> Project:
    """Rename it and set its instructions and default model (all checked first)."""
    cleaned = (
        _clean_name(name),
        _clean_instructions(instructions),
        _clean_model(project.user, default_model),
    )
    taken = Project.objects.filter(user_id=project.user_id, name=cleaned[0]).exclude(pk=project.pk)
    if taken.exists():
        raise _name_taken(cleaned[0])
    project.name, project.instructions, project.default_model = cleaned
    return _save(project, update_fields=["name", "instructions", "default_model"])


def rename_project(*, project: Project, name: object) -> Project:
    return update_project(
        project=project,
        name=name,
        instructions=project.instructions,
        default_model=project.default_model,
    )


def delete_project(*, project: Project, delete_conversations: bool) -> int:
    """Delete the project. Its conversations go back to the sidebar's list, or (when
    `delete_conversations`) are deleted with it, running answers stopped. Returns how
    many conversations were deleted."""
    with transaction.atomic():
        ids: list[int] = []
        if delete_conversations:
            ids = list(project.conversations.values_list("pk", flat=True))
            Conversation.objects.filter(pk__in=ids).delete()
            stop_answers(ids)
        project.delete()  # Conversation.project is SET_NULL: the rest go back to the list.
    return len(ids)


def project_for(user: User, project_id: object) -> Project | None:
    """The user's project of this id; None for "" or None (no project); refused otherwise."""
    if project_id in (None, ""):
        return None
    if isinstance(project_id, str) and project_id.isascii() and project_id.isdigit():
        project_id = int(project_id)
    project = None
    if isinstance(project_id, int) and not isinstance(project_id, bool):
        project = Project.objects.for_user(user).filter(pk=project_id).first()
    if project is None:
        raise ActionError("project_not_found", _("That project does not exist (any more)."))
    return project


def refuse_temporary() -> ActionError:
    return ActionError(
        "temporary_not_in_project", _("A temporary chat cannot be put in a project.")
    )


def move_conversation(*, conversation: Conversation, project_id: object) -> Project | None:
    """Put the conversation in the user's project `project_id`, or out of any ("" or
    None). One UPDATE: the last of two concurrent moves wins. Every tab of the owner hears
    of it after commit (the `organised` frame, as for pins): its sidebar drops the row or
    fetches it again. Returns the project."""
    project = project_for(conversation.user, project_id)
    if project is not None and conversation.is_temporary:
        raise refuse_temporary()
    Conversation.objects.filter(pk=conversation.pk).update(project=project)
    conversation.project = project
    publish_to_user(
        conversation.user_id,
        events.organised_frame(
            conversation.pk, pinned=conversation.pinned, archived=conversation.archived
        ),
    )
    return project
