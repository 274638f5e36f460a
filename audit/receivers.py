"""Django's own signals turned into audit entries: sign-in, sign-out and failed sign-ins
(whatever signs in: the password form, the admin's, single sign-on through
django.contrib.auth.login), users and groups (whatever changes them: the admin, sign-up,
a script), and every other change made in the admin (through its LogEntry, so a model
registered later is covered without a line here)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry, LogEntryManager
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from audit.context import address_of, current_user
from audit.models import Action
from audit.record import record

# The user fields whose change is recorded (by name; a password only as "password").
USER_FIELDS = (
    "username", "email", "first_name", "last_name", "password",
    "is_active", "is_staff", "is_superuser",
)  # fmt: skip
FLAGS = ("is_active", "is_staff", "is_superuser")
# Recorded by the receivers below, not again from the admin's log.
OWN_TYPES = {("auth", "user"), ("auth", "group"), ("audit", "auditevent")}
ADMIN_ACTIONS = {
    ADDITION: Action.ADMIN_ADD,
    CHANGE: Action.ADMIN_CHANGE,
    DELETION: Action.ADMIN_DELETE,
}


# --- Sign-in and sign-out ------------------------------------------------------------


def on_logged_in(sender: object, request: Any, user: Any, **kwargs: Any) -> None:
    record(Action.SIGNIN, actor=user, target=user, address=address_of(request))


def on_logged_out(sender: object, request: Any, user: Any, **kwargs: Any) -> None:
    record(
        Action.SIGNOUT,
        actor=user,
        target=user if user is not None else None,
        address=address_of(request),
    )


def on_login_failed(
    sender: object, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # Django has already masked the credentials' secret keys; only the username is kept.
    field = get_user_model().USERNAME_FIELD
    username = str(credentials.get(field) or credentials.get("username") or "")[:150]
    record(
        Action.SIGNIN_FAILED,
        actor=None,
        target_type="auth.user",
        target_label=username,
        address=address_of(request),
        details={"username": username},
    )


# --- Users and groups ----------------------------------------------------------------


def _flags(user: Any, names: tuple[str, ...] | list[str] = FLAGS) -> dict[str, bool]:
    return {name: bool(getattr(user, name)) for name in names if name in FLAGS}


def on_user_pre_save(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """Keep the stored values of the tracked fields, to name what this save changes
    (no query for a save that touches none of them, such as last_login's)."""
    instance._audit_before = None
    if instance.pk is None or instance._state.adding:
        return
    if update_fields is not None and not set(update_fields) & set(USER_FIELDS):
        return
    instance._audit_before = sender.objects.filter(pk=instance.pk).values(*USER_FIELDS).first()


def on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created:
        record(Action.ACCOUNT_CREATE, target=instance, details={"flags": _flags(instance)})
        return
    before = getattr(instance, "_audit_before", None)
    instance._audit_before = None
    if before is None:
        return
    changed = [name for name in USER_FIELDS if before[name] != getattr(instance, name)]
    if changed:
        record(
            Action.ACCOUNT_CHANGE,
            target=instance,
            details={"fields": changed, "flags": _flags(instance, changed)},
        )


def on_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    record(Action.ACCOUNT_DELETE, target=instance)


def on_group_pre_save(sender: Any, instance: Group, **kwargs: Any) -> None:
    instance._audit_name = (  # type: ignore[attr-defined]
        Group.objects.filter(pk=instance.pk).values_list("name", flat=True).first()
        if instance.pk is not None
        else None
    )


def on_group_saved(sender: Any, instance: Group, created: bool, **kwargs: Any) -> None:
    if created:
        record(Action.GROUP_CREATE, target=instance)
    elif getattr(instance, "_audit_name", None) != instance.name:
        record(Action.GROUP_CHANGE, target=instance, details={"fields": ["name"]})


def on_group_deleted(sender: Any, instance: Group, **kwargs: Any) -> None:
    record(Action.GROUP_DELETE, target=instance)


def on_membership(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """A user joined or left groups, from either side (user.groups, group.user_set)."""
    if action == "pre_clear":
        # The rows are gone by post_clear: note who was in them now.
        instance._audit_cleared = (
            list(instance.user_set.all()) if reverse else list(instance.groups.all())
        )
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    key = "added" if action == "post_add" else "removed"
    if action == "post_clear":
        others = getattr(instance, "_audit_cleared", [])
    elif reverse:
        others = list(get_user_model().objects.filter(pk__in=pk_set or ()))
    else:
        others = list(Group.objects.filter(pk__in=pk_set or ()))
    if not others:
        return
    if reverse:  # instance is a group; one entry per user
        for user in others:
            record(Action.ACCOUNT_GROUPS, target=user, details={key: [instance.name]})
    else:
        names = sorted(group.name for group in others)
        record(Action.ACCOUNT_GROUPS, target=instance, details={key: names})


def on_permissions(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if isinstance(instance, Group):
        record(Action.GROUP_CHANGE, target=instance, details={"fields": ["permissions"]})
    elif isinstance(instance, get_user_model()):
        record(Action.ACCOUNT_CHANGE, target=instance, details={"fields": ["user_permissions"]})


# --- Everything else changed in the admin --------------------------------------------


def change_fields(change_message: str) -> dict[str, list[str]]:
    """The names in an admin LogEntry's change_message (a JSON list such as
    [{"changed": {"fields": ["Name", "Base URL"]}}, {"added": {"name": "…", "object": "…"}}]).
    Only the names are kept: the message never holds field values."""
    try:
        parts = json.loads(change_message or "[]")
    except ValueError:
        return {}
    found: dict[str, list[str]] = {}
    for part in parts if isinstance(parts, list) else []:
        for kind, about in part.items() if isinstance(part, dict) else []:
            if not isinstance(about, dict):
                continue
            names = about.get("fields") or ([about["name"]] if "name" in about else [])
            if names:
                found.setdefault(str(kind), []).extend(str(name) for name in names)
    return found


def record_log_entry(entry: LogEntry) -> None:
    content_type: Any = entry.content_type
    if content_type is None or (content_type.app_label, content_type.model) in OWN_TYPES:
        return
    action = ADMIN_ACTIONS.get(entry.action_flag)
    if action is None:
        return
    actor = current_user()
    if actor is None or actor.pk != entry.user_id:
        actor = entry.user
    record(
        action,
        actor=actor,
        target_type=f"{content_type.app_label}.{content_type.model}",
        target_id=entry.object_id or "",
        target_label=entry.object_repr,
        details=change_fields(entry.change_message),
    )


def on_log_entry(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    if created:
        record_log_entry(instance)


def _log_actions_recorded(original: Any) -> Any:
    """LogEntryManager.log_actions writes several entries (the admin's "delete selected")
    with bulk_create, which sends no post_save: those are recorded here. One entry is
    saved one by one, and recorded by on_log_entry. tests/audit/test_receivers.py pins it."""

    def log_actions(self: LogEntryManager, *args: Any, **kwargs: Any) -> Any:
        entries = original(self, *args, **kwargs)
        if isinstance(entries, list) and len(entries) > 1:
            for entry in entries:
                record_log_entry(entry)
        return entries

    log_actions._audit = True  # type: ignore[attr-defined]
    return log_actions


def connect() -> None:
    user_model = get_user_model()
    user_logged_in.connect(on_logged_in, dispatch_uid="audit-signin")
    user_logged_out.connect(on_logged_out, dispatch_uid="audit-signout")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit-signin-failed")
    pre_save.connect(on_user_pre_save, sender=user_model, dispatch_uid="audit-user-pre")
    post_save.connect(on_user_saved, sender=user_model, dispatch_uid="audit-user-saved")
    post_delete.connect(on_user_deleted, sender=user_model, dispatch_uid="audit-user-deleted")
    pre_save.connect(on_group_pre_save, sender=Group, dispatch_uid="audit-group-pre")
    post_save.connect(on_group_saved, sender=Group, dispatch_uid="audit-group-saved")
    post_delete.connect(on_group_deleted, sender=Group, dispatch_uid="audit-group-deleted")
    m2m_changed.connect(
        on_membership, sender=user_model.groups.through, dispatch_uid="audit-membership"
    )
    m2m_changed.connect(
        on_permissions, sender=Group.permissions.through, dispatch_uid="audit-group-perms"
    )
    m2m_changed.connect(
        on_permissions,
        sender=user_model.user_permissions.through,
        dispatch_uid="audit-user-perms",
    )
    post_save.connect(on_log_entry, sender=LogEntry, dispatch_uid="audit-admin-log")
    if not getattr(LogEntryManager.log_actions, "_audit", False):
        LogEntryManager.log_actions = _log_actions_recorded(  # type: ignore[method-assign]
            LogEntryManager.log_actions
        )
