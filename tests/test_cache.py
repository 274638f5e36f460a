"""The Redis cache keeps one connection pool per process (chatweb/cache.py)."""

from __future__ import annotations

import asyncio
import contextvars
import os
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chatweb.cache import SharedPoolRedisCache

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="the Redis cache: make test-pg sets REDIS_URL"
)


def test_every_cache_object_of_a_server_uses_the_same_pool() -> None:
    # caches[...] is one object per thread and per ASGI connection: each must not make a pool.
    # (No connection is made: a pool connects when a command is sent.)
    first: Any = SharedPoolRedisCache("redis://127.0.0.1:6379/5", {})
    second: Any = SharedPoolRedisCache("redis://127.0.0.1:6379/5", {})
    other: Any = SharedPoolRedisCache("redis://127.0.0.1:6379/6", {})
    pool = first._cache._get_connection_pool(write=True)
    assert second._cache._get_connection_pool(write=True) is pool
    assert second._cache._get_connection_pool(write=False) is pool  # one server: reads too
    assert other._cache._get_connection_pool(write=True) is not pool


@needs_redis
@pytest.mark.asyncio
async def test_a_session_read_in_each_new_connection_opens_no_redis_connection() -> None:
    import redis
    from django.core.cache import caches

    server = redis.Redis.from_url(os.environ["REDIS_URL"])

    async def read() -> None:
        await sync_to_async(caches["default"].get)("chatweb-test-absent")

    def fresh() -> asyncio.Task[None]:
        # A context of its own, as each socket and request has under daphne: none of the
        # cache objects made before (by this test's own context) are seen there.
        return asyncio.create_task(read(), context=contextvars.Context())

    await fresh()
    before = server.info("stats")["total_connections_received"]
    for _ in range(20):
        await fresh()
    opened = server.info("stats")["total_connections_received"] - before
    server.close()
    assert opened <= 2, f"{opened} connections to Redis for 20 reads"  # Django's own: 20
