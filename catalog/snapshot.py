"""The catalog's tables held in memory: every chat asks them, admins rarely change them.

Posting a message asks "may this user use this model", "how do I reach it" and "what are
this user's limits": read from the database, that was eight queries per answer. The
rows are small (providers, models, their grants, quotas) and change only in the admin,
so each process keeps one copy, reloaded when they change:

- in this process at once: a save or delete of a Provider, ChatModel, Quota, Group or the
  SiteSettings (the site's default model), or
  a change to a model's users or groups, drops the copy (signal receivers, connected in
  catalog.apps), and again when the transaction commits, so a copy read meanwhile from
  the uncommitted rows is not kept;
- in every other process within CATALOG_RECHECK_SECONDS: each of those changes also
  writes a new version in the "catalog" cache (Redis in production, shared by every
  instance; a file in DATA_DIR with the embedded defaults, shared by every process on the
  machine, such as a manage.py command run beside `make run`), and a process compares its
  copy's version with that one at most that often.

A user's groups are not in the copy (membership changes without a catalog signal); they
are read per request, and only when some grant or quota names a group.

A change that sends no signal (QuerySet.update(), raw SQL, a restored dump) is not seen
until the next signalled change or a restart; the app itself makes none (the admin
saves and deletes objects; ChatModel.save()'s own update is followed by its post_save).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction

from catalog.models import ChatModel, Quota, SiteSettings

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

VERSION_KEY = "chatweb:catalog:version"


@dataclass(frozen=True)
class Snapshot:
    # Every admin model with its provider, in the admin's order (position, name).
    models: tuple[ChatModel, ...]
    by_name: dict[str, ChatModel]
    # chatmodel id -> the users / groups it is granted to (none of both: everyone).
    user_grants: dict[int, frozenset[int]]
    group_grants: dict[int, frozenset[int]]
    quotas: tuple[Quota, ...]
    # The admin's choice of the site's default model (SiteSettings.default_model; "": none).
    default_model: str
    # Anything computed from the rows above, per name (catalog.config's resolved models).
    memo: dict[Any, Any] = field(default_factory=dict)

    @property
    def names_groups(self) -> bool:
        """Some grant or quota is for a group: a user's groups matter."""
        return bool(self.group_grants) or any(q.group_id for q in self.quotas)

    def usable(self) -> list[ChatModel]:
        return [m for m in self.models if m.enabled and m.provider.enabled]

    def granted(self, model: ChatModel, user_id: int | None, group_ids: frozenset[int]) -> bool:
        users = self.user_grants.get(model.pk, frozenset())
        groups = self.group_grants.get(model.pk, frozenset())
        if not users and not groups:
            return True
        return user_id in users or bool(groups & group_ids)


def _load() -> Snapshot:
    models = tuple(ChatModel.objects.select_related("provider").order_by("position", "name"))
    user_grants: dict[int, set[int]] = {}
    for model_id, user_id in ChatModel.users.through.objects.values_list("chatmodel_id", "user_id"):
        user_grants.setdefault(model_id, set()).add(user_id)
    group_grants: dict[int, set[int]] = {}
    for model_id, group_id in ChatModel.groups.through.objects.values_list(
        "chatmodel_id", "group_id"
    ):
        group_grants.setdefault(model_id, set()).add(group_id)
    return Snapshot(
        models=models,
        by_name={m.name: m for m in models},
        user_grants={k: frozenset(v) for k, v in user_grants.items()},
        group_grants={k: frozenset(v) for k, v in group_grants.items()},
        quotas=tuple(Quota.objects.order_by("pk")),
        default_model=SiteSettings.load().default_model,
    )


@dataclass
class _Held:
    version: str | None = None
    snapshot: Snapshot | None = None
    checked_at: float = float("-inf")


_held = _Held()
_lock = threading.Lock()


def get() -> Snapshot:
    """The catalog as this process holds it, reloaded if it changed (see the module doc)."""
    held = _held
    now = time.monotonic()
    if held.snapshot is not None and now - held.checked_at < settings.CATALOG_RECHECK_SECONDS:
        return held.snapshot
    versions = caches["catalog"]
    version = versions.get(VERSION_KEY)
    if version is None:
        # First use, or the cache lost it: every process reloads once.
        versions.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = versions.get(VERSION_KEY)
    if held.snapshot is not None and version == held.version:
        held.checked_at = now
        return held.snapshot
    snapshot = _load()
    with _lock:
        _held.version, _held.snapshot, _held.checked_at = version, snapshot, now
    return snapshot


def forget() -> None:
    """Drop this process's copy (the next get() reloads it); tests call it between tests."""
    with _lock:
        _held.version, _held.snapshot, _held.checked_at = None, None, float("-inf")


def changed() -> None:
    """The catalog's rows changed: reload here now, and everywhere soon (and after commit)."""
    _bump()
    transaction.on_commit(_bump)


def _bump() -> None:
    forget()
    caches["catalog"].set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def on_change(sender: object, **kwargs: Any) -> None:
    """Receiver of post_save, post_delete and m2m_changed for the catalog's models."""
    if kwargs.get("raw"):  # loaddata
        return
    action = kwargs.get("action")
    if action is not None and not str(action).startswith("post_"):
        return
    changed()


def group_ids(user: AbstractBaseUser | AnonymousUser, snapshot: Snapshot) -> frozenset[int]:
    """The user's groups, read once per user object, and only if some grant or quota names
    a group."""
    if not user.is_authenticated or not snapshot.names_groups:
        return frozenset()
    cached: frozenset[int] | None = getattr(user, "_catalog_group_ids", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("pk", flat=True))  # type: ignore[attr-defined]
        user._catalog_group_ids = cached  # type: ignore[attr-defined]
    return cached
