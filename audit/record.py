"""audit.record(): write one AuditEvent. Every app calls it (the audit app sits below them
all: docs/architecture.md, "Layers"); signals from Django (sign-in, users, groups, the
admin's log) are turned into calls in audit.receivers.

What goes in `details` is names (of fields, of groups) and counts, never a value a secret
could be in: docs/security.md, "Audit log".
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.db import models
from django.utils import timezone

from audit.context import address_of, current_request, current_user
from audit.models import Action, AuditEvent


class _FromRequest:
    """The default actor and address: the current request's (audit.context)."""


FROM_REQUEST: Any = _FromRequest()


def target_type_of(obj: models.Model) -> str:
    meta = obj._meta
    return f"{meta.app_label}.{meta.model_name}"


def record(
    action: Action,
    *,
    actor: Any = FROM_REQUEST,
    target: models.Model | Any = None,
    target_type: str = "",
    target_id: object = "",
    target_label: str = "",
    address: str | None = FROM_REQUEST,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one entry. `actor` is a user (or None: nobody signed in, a command); by
    default the current request's. `target` names the object acted on (its type, id and
    str()), or target_type/target_id/target_label do."""
    if actor is FROM_REQUEST:
        actor = current_user()
    if address is FROM_REQUEST:
        address = address_of(current_request())
    if target is not None:
        target_type = target_type or target_type_of(target)
        target_id = target_id or target.pk
        target_label = target_label or str(target)
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    return AuditEvent.objects.create(
        time=timezone.now(),
        actor_id=actor_id,
        actor_username=(actor.get_username() if actor_id is not None else "")[:150],
        action=action.value,
        target_type=target_type[:100],
        target_id=str(target_id if target_id is not None else "")[:64],
        target_label=str(target_label)[:200],
        address=_valid(address),
        details=details or {},
    )


def _valid(address: str | None) -> str | None:
    """The address if it is one (a unix socket's peer is not), else None."""
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None
