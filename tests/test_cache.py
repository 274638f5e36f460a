"""The Redis cache (django-redis) keeps its connection pools per process: a cache object
per ASGI connection opens no Redis connection of its own (Django ticket #35651)."""

from __future__ import annotations

import asyncio
import contextvars
import os

import pytest
from asgiref.sync import sync_to_async

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="the Redis cache: make test-pg sets REDIS_URL"
)


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
