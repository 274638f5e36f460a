"""The answer's events over real HTTP (a daphne process): resume with Last-Event-ID after a
dropped connection, the end and the 204 after it, streaming at once on post, pings, and
stop by HTTP while a browser tab's socket watches."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import closing

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.api import live
from tests.api.sse import Event, events, text_of
from tests.servers import sign_in
from tests.upstream import FakeUpstream, expected_text

pytestmark = pytest.mark.slow


@pytest.fixture
def server(api_server: live.Live) -> live.Live:
    return api_server


def new_conversation(api: httpx.Client) -> int:
    created = api.post("/conversations", json={"title": "live"})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def post(api: httpx.Client, conversation: int, text: str) -> int:
    posted = api.post(f"/conversations/{conversation}/messages", json={"text": text})
    assert posted.status_code == 202, posted.text
    body = posted.json()
    assert body["events_url"] == f"/api/v1/messages/{body['message_id']}/events"
    return int(body["message_id"])


def read(
    api: httpx.Client, url: str, *, until: int | None = None, last_id: str | None = None
) -> list[Event]:
    """The stream's events, to its end or until `until` deltas were read (then dropped)."""
    seen: list[Event] = []
    headers = {"Last-Event-ID": last_id} if last_id else {}
    with api.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["cache-control"] == "no-cache"
        for event in events(response):
            seen.append(event)
            deltas = [e for e in seen if e.name == "delta"]
            if until is not None and len(deltas) >= until:
                break  # the connection is dropped mid-answer
    return seen


def named(seen: list[Event]) -> list[Event]:
    return [e for e in seen if e.name != "ping"]


def test_a_dropped_stream_resumes_from_last_event_id_with_no_gap_or_duplicate(server):
    with closing(server.client()) as api:
        conversation = new_conversation(api)
        answer = post(api, conversation, "[[fake tokens=80 delay=0.03]]")
        url = f"/messages/{answer}/events"

        before = named(read(api, url, until=5))
        assert before[0].name == "snapshot"
        assert before[0].id == f"{answer}.{before[0].data['seq'] or 0}"
        for event in before[1:]:
            assert event.name == "delta"
            assert event.id == f"{answer}.{event.data['seq']}"
        last_id = before[-1].id
        assert last_id is not None

        after = named(read(api, url, last_id=last_id))
        assert after[0].name == "snapshot"  # always first on a resume
        assert after[-1].name == "done"
        assert after[-1].id == f"{answer}.end"
        resumed_at = after[0].data["seq"]
        seqs = [e.data["seq"] for e in after if e.name == "delta"]
        assert seqs == list(range(resumed_at + 1, resumed_at + 1 + len(seqs)))
        # What was seen before the drop is where the snapshot starts: nothing lost.
        assert after[0].data["content"].startswith(text_of(before))
        assert text_of(after) == expected_text(80)
        done = after[-1].data
        assert (done["status"], done["finish_reason"]) == ("done", "stop")
        assert done["message"]["content"] == expected_text(80)
        assert done["usage"]["total_tokens"] > 0

        # The client saw the end: a further reconnect is told there is no more (204).
        again = api.get(url, headers={"Last-Event-ID": f"{answer}.end"})
        assert again.status_code == 204
        # A stream opened after the end: the snapshot of the whole answer, then its done.
        ended = named(read(api, url))
        assert [e.name for e in ended] == ["snapshot", "done"]
        assert ended[0].data["content"] == expected_text(80)


def test_posting_with_accept_event_stream_streams_the_answer_at_once(server):
    with closing(server.client()) as api:
        conversation = new_conversation(api)
        seen: list[Event] = []
        with api.stream(
            "POST",
            f"/conversations/{conversation}/messages",
            json={"text": "[[fake tokens=30 delay=0.01]]"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            seen = named(list(events(response)))
        assert seen[0].name == "message"
        answer = seen[0].data["id"]
        assert seen[0].data["role"] == "assistant"
        assert seen[1].name == "snapshot"
        assert seen[-1].name == "done"
        assert seen[-1].id == f"{answer}.end"
        assert text_of(seen) == expected_text(30)


def test_a_quiet_answer_sends_named_pings(server, fake_upstream_server: FakeUpstream):
    with closing(server.client()) as api:
        conversation = new_conversation(api)
        answer = post(api, conversation, "[[fake tokens=20 hang_after=2]]")
        seen: list[Event] = []
        with api.stream("GET", f"/messages/{answer}/events") as response:
            for event in events(response):
                seen.append(event)
                if [e.name for e in seen].count("ping") >= 2:
                    break
        pings = [e for e in seen if e.name == "ping"]
        assert len(pings) == 2
        assert all(e.id is None for e in pings)
        assert api.post(f"/conversations/{conversation}/stop").status_code == 202


def test_stop_by_http_ends_the_answer_for_a_tab_watching_on_its_socket(server):
    async def scenario() -> tuple[list[dict[str, object]], int]:
        with (
            closing(server.client()) as api,
            closing(sign_in(server.server.url, "alice", "alice-password-1")) as page,
        ):
            conversation = new_conversation(api)
            cookie = "; ".join(f"{k}={v}" for k, v in page.cookies.items())
            socket = await connect(
                f"{server.server.ws_url}/ws/conversations/{conversation}/",
                origin=server.server.url,
                additional_headers={"Cookie": cookie},
                open_timeout=10,
            )
            try:
                answer = post(api, conversation, "[[fake tokens=2000 delay=0.02]]")
                frames: list[dict[str, object]] = []
                async with asyncio.timeout(20):
                    while True:
                        frame = json.loads(await socket.recv())
                        frames.append(frame)
                        if frame["type"] == "delta":
                            stopped = await asyncio.to_thread(
                                api.post, f"/conversations/{conversation}/stop"
                            )
                            assert stopped.status_code == 202
                            assert stopped.json() == {"message_id": answer}
                            break
                    while (frame := json.loads(await socket.recv()))["type"] != "done":
                        frames.append(frame)
                    frames.append(frame)
            finally:
                await socket.close()
            return frames, answer

    frames, answer = asyncio.run(scenario())
    done = frames[-1]
    assert done["type"] == "done"
    message = done["message"]
    assert isinstance(message, dict)
    assert (message["id"], message["status"]) == (answer, "stopped")
    assert len(str(message["content"])) < len(expected_text(2000))


def test_the_events_of_another_users_answer_are_not_found(server):
    with closing(server.client()) as api:
        conversation = new_conversation(api)
        answer = post(api, conversation, "[[fake tokens=3]]")
    with closing(httpx.Client(base_url=f"{server.server.url}/api/v1", timeout=10)) as anonymous:
        assert anonymous.get(f"/messages/{answer}/events").status_code == 401
    assert re.fullmatch(r"\d+", str(answer))
