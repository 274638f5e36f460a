"""Which server processes are alive: each keeps a heartbeat in the shared cache (Redis in a
deployment), so another instance notices within seconds that one died (kill -9, a lost
machine) and ends its answers, instead of waiting for their checkpoints to go stale."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


def _key(instance_id: str) -> str:
    return f"chatweb:instance:{instance_id}"


def ttl() -> float:
    """How long a heartbeat lasts: three beats, so one late beat is not a death."""
    return 3 * float(settings.INSTANCE_HEARTBEAT_SECONDS)


def beat() -> None:
    """This process is alive (streaming.heartbeat calls it every INSTANCE_HEARTBEAT_SECONDS)."""
    cache.set(_key(settings.INSTANCE_ID), time.time(), timeout=ttl())


def is_alive(instance_id: str) -> bool:
    """False once the instance's heartbeat has lapsed. This process is always alive; an
    instance that never beat (no server process) counts as dead, so callers also require
    its answers to be older than ttl() (conversations.recovery.is_abandoned)."""
    return instance_id == settings.INSTANCE_ID or cache.get(_key(instance_id)) is not None
