"""Two daphne instances, one Redis channel layer, one PostgreSQL, behind the project's nginx.

Scale-out (README.md, Deploy) promises that any instance serves any socket: an answer started
on instance A is watched and stopped from instance B, and nginx passes the stream through
without holding it back. These tests check exactly that, on real processes.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.deploy.conftest import Stack
from tests.upstream import RecordedRequest, expected_text

pytestmark = [pytest.mark.deploy, pytest.mark.asyncio]

FRAME_TIMEOUT = 20.0


async def open_socket(stack: Stack, base_ws_url: str, conversation_id: int) -> ClientConnection:
    origin = base_ws_url.replace("ws://", "http://")
    return await connect(
        f"{base_ws_url}/ws/conversations/{conversation_id}/",
        origin=origin,  # type: ignore[arg-type]
        additional_headers={"Cookie": stack.cookie_header()},
        open_timeout=10,
    )


async def next_frame(socket: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), FRAME_TIMEOUT))
    return frame


async def frames_until_done(socket: ClientConnection) -> list[dict[str, Any]]:
    frames = []
    async with asyncio.timeout(FRAME_TIMEOUT):
        while True:
            frame = await next_frame(socket)
            frames.append(frame)
            if frame["type"] == "done":
                return frames


async def first_frame_of_type(socket: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(FRAME_TIMEOUT):
        while True:
            frame = await next_frame(socket)
            if frame["type"] == kind:
                return frame


def deltas(frames: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(f["seq"], f["text"]) for f in frames if f["type"] == "delta"]


async def upstream_request(stack: Stack, marker: str) -> RecordedRequest:
    """The upstream request whose last message carries `marker`."""
    async with asyncio.timeout(10):
        while True:
            for request in stack.upstream.chat_requests:
                if marker in json.dumps(request.json):
                    return request
            await asyncio.sleep(0.02)


async def test_a_client_on_instance_b_sees_the_answer_started_on_instance_a(stack: Stack) -> None:
    a, b = stack.instances
    conversation = stack.take_conversation()
    on_a = await open_socket(stack, a.ws_url, conversation)
    on_b = await open_socket(stack, b.ws_url, conversation)
    try:
        await on_a.send(json.dumps({"type": "send", "text": "[[fake tokens=200 delay=0.02]]"}))
        frames_a, frames_b = await asyncio.gather(frames_until_done(on_a), frames_until_done(on_b))
    finally:
        await on_a.close()
        await on_b.close()

    assert deltas(frames_b) == deltas(frames_a)
    seqs = [seq for seq, _ in deltas(frames_b)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert "".join(text for _, text in deltas(frames_b)) == expected_text(200)
    done_a, done_b = frames_a[-1]["message"], frames_b[-1]["message"]
    assert done_b == done_a
    assert done_b["status"] == "done"
    assert done_b["content"] == expected_text(200)
    print(f"\ndeploy: A->B relay of 200 tokens: {len(seqs)} delta frames, identical on A and B")


async def test_stop_from_instance_b_stops_the_answer_running_on_instance_a(stack: Stack) -> None:
    a, b = stack.instances
    conversation = stack.take_conversation()
    marker = f"stop-from-b-{conversation}"
    on_a = await open_socket(stack, a.ws_url, conversation)
    on_b = await open_socket(stack, b.ws_url, conversation)
    try:
        await on_a.send(
            json.dumps({"type": "send", "text": f"[[fake tokens=400 delay=0.03]] {marker}"})
        )
        await first_frame_of_type(on_b, "delta")
        await on_b.send(json.dumps({"type": "stop"}))
        frames_b = await frames_until_done(on_b)
        frames_a = await frames_until_done(on_a)
    finally:
        await on_a.close()
        await on_b.close()

    assert frames_b[-1]["message"]["status"] == "stopped"
    assert frames_a[-1]["message"]["status"] == "stopped"
    request = await upstream_request(stack, marker)
    assert await asyncio.to_thread(request.finished.wait, 10)
    # Instance A really closed its upstream request: no tokens are paid for after Stop.
    assert request.client_disconnected
    assert request.tokens_sent < 400
    print(
        f"\ndeploy: stop from B ended A's upstream request after {request.tokens_sent}/400 tokens"
    )


async def test_the_first_delta_reaches_a_client_through_nginx_while_upstream_streams(
    stack: Stack,
) -> None:
    conversation = stack.take_conversation()
    marker = f"through-nginx-{conversation}"
    socket = await open_socket(stack, stack.nginx.ws_url, conversation)
    try:
        sent_at = time.monotonic()
        await socket.send(
            json.dumps({"type": "send", "text": f"[[fake tokens=100 delay=0.03]] {marker}"})
        )
        first = await first_frame_of_type(socket, "delta")
        latency = time.monotonic() - sent_at
        request = await upstream_request(stack, marker)
        still_streaming = not request.finished.is_set()
        tokens_at_first_delta = request.tokens_sent
        frames = await frames_until_done(socket)
    finally:
        await socket.close()

    assert first["seq"] == 1
    assert latency < 1.5, f"first delta after {latency:.3f}s"
    assert still_streaming, "the upstream had already finished: something buffered the stream"
    assert frames[-1]["message"]["status"] == "done"
    print(
        f"\ndeploy: first delta through nginx after {latency * 1000:.0f} ms "
        f"(upstream had sent {tokens_at_first_delta}/100 tokens over ~3 s)"
    )


async def test_healthz_through_nginx(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.nginx.base_url, timeout=10) as client:
        response = await client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok"}


async def test_static_files_are_served_by_whitenoise_through_nginx(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.nginx.base_url, timeout=10) as client:
        response = await client.get("/static/js/diagnostics.js")
    assert response.status_code == 200
    assert "export function classify" in response.text
