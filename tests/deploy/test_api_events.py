"""/api/v1's answer events on the production shape: resumed on the other instance, ended
as interrupted when the instance running the answer is killed, and passed through the
project's nginx as they are written."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.api.sse import Event, aevents, events, text_of
from tests.deploy.conftest import STAFF_USERNAME, Stack
from tests.servers import Daphne, manage
from tests.upstream import expected_text

pytestmark = pytest.mark.deploy

MINT = (
    "from accounts import api_tokens; from django.contrib.auth import get_user_model; "
    f"print(api_tokens.create(user=get_user_model().objects.get(username={STAFF_USERNAME!r}), "
    "name='deploy', scopes=['chat', 'conversations:read', 'conversations:write']).secret)"
)


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    return manage(stack.env, "shell", "-c", MINT).strip().splitlines()[-1]


def api(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=20
    )


@pytest.fixture
def on_a(stack: Stack, token: str) -> Iterator[httpx.Client]:
    with api(stack.instances[0].base_url, token) as client:
        yield client


@pytest.fixture
def on_b(stack: Stack, token: str) -> Iterator[httpx.Client]:
    with api(stack.instances[1].base_url, token) as client:
        yield client


def new_conversation(stack: Stack, token: str) -> int:
    """A conversation of its own (made through the API: the stack's few are the others')."""
    with api(stack.instances[0].base_url, token) as client:
        created = client.post("/conversations", json={"title": "API events"})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def post(client: httpx.Client, conversation: int, text: str) -> int:
    posted = client.post(f"/conversations/{conversation}/messages", json={"text": text})
    assert posted.status_code == 202, posted.text
    return int(posted.json()["message_id"])


def named(seen: list[Event]) -> list[Event]:
    return [e for e in seen if e.name != "ping"]


def test_a_stream_dropped_on_one_instance_resumes_on_the_other(
    stack: Stack, token: str, on_a, on_b
):
    conversation = new_conversation(stack, token)
    answer = post(on_a, conversation, "[[fake tokens=120 delay=0.02]]")
    url = f"/messages/{answer}/events"
    before: list[Event] = []
    with on_a.stream("GET", url) as response:
        for event in events(response):
            before.append(event)
            if sum(e.name == "delta" for e in before) >= 5:
                break  # dropped mid-answer
    before = named(before)
    last_id = before[-1].id
    assert last_id is not None
    assert last_id.startswith(f"{answer}.")

    with on_b.stream("GET", url, headers={"Last-Event-ID": last_id}) as response:
        assert response.status_code == 200
        after = named(list(events(response)))
    assert after[0].name == "snapshot"
    assert after[-1].name == "done"
    assert after[-1].id == f"{answer}.end"
    start = after[0].data["seq"]
    seqs = [e.data["seq"] for e in after if e.name == "delta"]
    assert seqs == list(range(start + 1, start + 1 + len(seqs)))  # no gap, no duplicate
    assert after[0].data["content"].startswith(text_of(before))
    assert text_of(after) == expected_text(120)
    assert after[-1].data["status"] == "done"
    # The end seen, any instance says there is no more.
    for client in (on_a, on_b):
        again = client.get(url, headers={"Last-Event-ID": f"{answer}.end"})
        assert again.status_code == 204


@pytest.mark.asyncio
async def test_killing_the_instance_running_the_answer_ends_it_interrupted(
    stack: Stack, token: str
):
    env = {**stack.env, "INSTANCE_ID": "deploy-api-doomed", "INSTANCE_HEARTBEAT_SECONDS": "1"}
    doomed = await asyncio.to_thread(
        Daphne, env, stack.directory / "daphne-api-doomed.log", "api-doomed"
    )
    conversation = await asyncio.to_thread(new_conversation, stack, token)
    headers = {"Authorization": f"Bearer {token}"}
    seen: list[Event] = []
    try:
        async with httpx.AsyncClient(
            base_url=f"{doomed.base_url}/api/v1", headers=headers, timeout=20
        ) as on_doomed:
            posted = await on_doomed.post(
                f"/conversations/{conversation}/messages",
                json={"text": "[[fake tokens=2000 delay=0.02]]"},
            )
            assert posted.status_code == 202, posted.text
            answer = posted.json()["message_id"]
        b = stack.instances[1].base_url
        async with (
            httpx.AsyncClient(base_url=f"{b}/api/v1", headers=headers, timeout=60) as on_b,
            on_b.stream("GET", f"/messages/{answer}/events") as response,
        ):
            async with asyncio.timeout(60):
                async for event in aevents(response):
                    seen.append(event)
                    if event.name == "delta" and event.data["seq"] == 20:
                        await asyncio.to_thread(doomed.kill)
                    if event.name == "done":
                        break
    finally:
        with contextlib.suppress(Exception):
            doomed.stop()
    done = seen[-1]
    assert done.name == "done"
    assert (done.data["status"], done.data["error_code"]) == ("interrupted", "interrupted")
    assert expected_text(2000).startswith(done.data["message"]["content"])


@pytest.mark.asyncio
async def test_through_nginx_the_first_delta_arrives_before_the_upstream_finishes(
    stack: Stack, token: str
):
    conversation = await asyncio.to_thread(new_conversation, stack, token)
    marker = f"nginx-sse-{conversation}"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=f"{stack.nginx.base_url}/api/v1", headers=headers, timeout=30
    ) as client:
        async with client.stream(
            "POST",
            f"/conversations/{conversation}/messages",
            json={"text": f"{marker} [[fake tokens=60 delay=0.1]]"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            async with asyncio.timeout(20):
                async for event in aevents(response):
                    if event.name == "delta":
                        break
            request = next(r for r in stack.upstream.chat_requests if marker in json.dumps(r.json))
            # The upstream is still writing (60 tokens, 0.1 s apart): nothing held the
            # first delta back until the end.
            assert not request.finished.is_set()
            assert request.tokens_sent < 60
        stopped = await client.post(f"/conversations/{conversation}/stop")
        assert stopped.status_code in (202, 409)
