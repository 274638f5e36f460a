"""streaming.completions without a server: where its database work runs."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, async_to_sync, sync_to_async

from streaming.completions import in_process_context, process_context


@pytest.mark.asyncio
async def test_database_work_leaves_the_requests_own_thread_for_the_process_one() -> None:
    # What Django does around every ASGI request, and what a /v1 call escapes from: the
    # request's thread means a new database connection per request.
    process_thread = await sync_to_async(threading.get_ident)()
    async with ThreadSensitiveContext():
        request_thread = await sync_to_async(threading.get_ident)()
        escaped = await in_process_context(sync_to_async(threading.get_ident)())
        assert SyncToAsync.thread_sensitive_context.get(None) is not None
        assert process_context().run(SyncToAsync.thread_sensitive_context.get, None) is None
    assert request_thread != process_thread
    assert escaped == process_thread


@pytest.mark.asyncio
async def test_a_task_in_the_process_context_outlives_the_request() -> None:
    release = asyncio.Event()

    async def later() -> int:
        await release.wait()
        return await sync_to_async(threading.get_ident)()

    async with ThreadSensitiveContext():
        task = asyncio.create_task(later(), context=process_context())
    release.set()  # the request's context has exited: its thread is gone
    assert await task == await sync_to_async(threading.get_ident)()


@pytest.mark.asyncio
async def test_database_work_leaves_a_sync_middlewares_thread_for_the_process_one() -> None:
    # An async view below a sync middleware (whitenoise's) runs as async_to_sync from the
    # middleware's thread, and sync_to_async goes back to that thread.
    process_thread = await sync_to_async(threading.get_ident)()

    async def view() -> tuple[int, int]:
        below = await sync_to_async(threading.get_ident)()
        escaped = await in_process_context(sync_to_async(threading.get_ident)())
        return below, escaped

    def middleware() -> tuple[int, int, int]:
        return threading.get_ident(), *async_to_sync(view)()

    middleware_thread, below, escaped = await sync_to_async(middleware, thread_sensitive=False)()
    assert below == middleware_thread != process_thread
    assert escaped == process_thread
