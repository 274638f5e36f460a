"""The benchmark's own pure pieces (bench/): reply texts, checks, statistics, and the fake
upstream's wire format against the app's real provider client and tests/upstream.py.

The benchmark itself is `make bench`; nothing here is timed.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import pytest_asyncio

from bench.load import direct_chat
from bench.run import CONFIGS, FULL, SMOKE, _page_target, chosen_configs, render_pages
from bench.upstream import BenchUpstream
from bench.wire import (
    ChatResult,
    Reply,
    check,
    first_difference,
    parse_directive,
    percentile,
    summarise,
)
from modelclient.providers import Delta, OpenAICompatible, ProviderConfig, aclose_clients
from tests.upstream import FakeUpstream


def test_a_reply_is_the_same_text_every_time_and_differs_between_seeds() -> None:
    reply = Reply(tokens=4, delay=0.0, seed=7)
    assert reply.text() == "s7w0 s7w1 s7w2 s7w3"
    assert Reply(tokens=4, seed=8).text() != reply.text()
    cjk = Reply(tokens=5, cjk=True, seed=3).text()
    assert cjk.endswith("🙂")
    assert all(ord(ch) > 127 for ch in cjk)


def test_a_directive_round_trips_through_a_message() -> None:
    reply = Reply(tokens=1000, delay=0.02, cjk=True, seed=41)
    assert parse_directive(f"{reply.directive()} Please answer.") == reply
    assert parse_directive("no directive here") is None


@pytest.mark.parametrize(
    ("p", "expected"), [(0, 1.0), (50, 2.5), (100, 4.0), (99, pytest.approx(3.97))]
)
def test_percentile_interpolates_between_ranks(p: float, expected: float) -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], p) == expected


def test_percentile_of_nothing_is_none_and_of_one_value_is_that_value() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0


def finished(text: str, seqs: list[int], saved: str | None = None) -> ChatResult:
    return ChatResult(
        text=text, seqs=seqs, saved_text=text if saved is None else saved, saved_status="done"
    )


def test_check_accepts_only_the_exact_text_with_consecutive_seqs() -> None:
    expected = Reply(tokens=3).text()
    assert check(finished(expected, [1, 2]), expected) is None
    assert check(finished(expected, [1, 3]), expected) == "seq_gap"
    assert check(finished(expected, [2, 3]), expected) == "seq_gap"
    assert check(finished(expected[:-1], [1, 2]), expected) == "text_differs"
    assert check(finished(expected + " ", [1]), expected) == "text_differs"
    assert check(finished(expected, [1], saved="other"), expected) == "saved_differs"


def test_first_difference_points_at_the_first_wrong_character() -> None:
    assert first_difference("abc", "abc") == -1
    assert first_difference("abX", "abc") == 2
    assert first_difference("ab", "abc") == 2


def test_summarise_counts_completed_failed_and_corrupted() -> None:
    expected = {i: Reply(tokens=2, seed=i).text() for i in range(4)}
    good = finished(expected[0], [1, 2])
    good.opened_at, good.first_text_at, good.delta_times = 10.0, 10.5, [10.5, 10.6]
    refused = ChatResult(failure="handshake")
    gap = finished(expected[2], [1, 3])
    wrong = finished(expected[0], [1])  # Another chat's text.

    summary = summarise([good, refused, gap, wrong], expected)

    assert (summary["completed"], summary["failed"], summary["corrupted"]) == (1, 1, 2)
    assert summary["reasons"] == {"handshake": 1, "seq_gap": 1, "text_differs": 1}
    assert summary["ttft"] == [0.5]
    assert summary["gaps"] == [pytest.approx(0.1)]


# --- The fake upstream's wire format --------------------------------------------------------


@pytest_asyncio.fixture
async def bench_upstream():
    upstream = BenchUpstream()
    port = await upstream.start()
    yield f"http://127.0.0.1:{port}/v1"
    await upstream.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("cjk", [False, True])
async def test_the_apps_provider_client_reads_the_exact_reply(bench_upstream, cjk: bool) -> None:
    reply = Reply(tokens=25, delay=0.001, cjk=cjk, seed=5)
    client = OpenAICompatible(ProviderConfig(base_url=bench_upstream, api_key="", timeout_s=5))
    deltas: list[Delta] = []
    try:
        for _ in range(2):  # Twice: the second request reuses the kept-alive connection.
            deltas.clear()
            async for delta in client.stream_chat(
                model="fake-model",
                messages=[{"role": "user", "content": f"{reply.directive()} hi"}],
            ):
                deltas.append(delta)
            assert "".join(d.text for d in deltas) == reply.text()
            assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
            usage = [d.usage for d in deltas if d.usage]
            assert usage
            assert usage[0]["completion_tokens"] == 25
    finally:
        await aclose_clients()


@pytest.mark.asyncio
async def test_the_direct_client_reads_the_exact_reply(bench_upstream) -> None:
    reply = Reply(tokens=10, delay=0.001, cjk=True, seed=2)
    result = await direct_chat(bench_upstream, reply, "fake-model", time.monotonic() + 10)
    assert result.failure is None
    assert result.text == reply.text()
    assert len(result.delta_times) == 10


def _sse_payloads(base_url: str, text: str) -> list[object]:
    body = {
        "model": "fake-model",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": text}],
    }
    with httpx.stream("POST", f"{base_url}/chat/completions", json=body, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["transfer-encoding"] == "chunked"
        lines = [line for line in response.iter_lines() if line]
    return [line if line == "data: [DONE]" else json.loads(line[6:]) for line in lines]


def _shape(payload: object) -> object:
    """The payload with the values that differ by design (id, time, text) blanked."""
    if isinstance(payload, dict):
        return {
            k: "*" if k in {"id", "created", "content", "prompt_tokens", "total_tokens"} else
            _shape(v)
            for k, v in payload.items()
        }  # fmt: skip
    if isinstance(payload, list):
        return [_shape(v) for v in payload]
    return payload


@pytest.mark.asyncio
async def test_its_chunks_are_shaped_like_the_reference_upstreams(bench_upstream) -> None:
    with FakeUpstream() as reference:
        theirs = await asyncio.to_thread(
            _sse_payloads, reference.base_url, "[[fake tokens=3 delay=0]]"
        )
    ours = await asyncio.to_thread(
        _sse_payloads, bench_upstream, Reply(tokens=3, delay=0).directive()
    )
    assert _shape(ours) == _shape(theirs)
    assert len(ours) == 1 + 3 + 1 + 1 + 1  # role, tokens, finish, usage, [DONE]


def _page(p50: float, p95: float) -> dict[str, float]:
    return {"p50": p50, "p95": p95, "cpu": p50, "kb": 10.0}


def test_the_page_targets_are_judged_from_the_figures() -> None:
    pages = {
        "long": _page(60, 120),
        "long-earlier": _page(40, 60),
        "home-20": _page(20, 25),
        "home-2000": _page(26, 30),
        "chat-20": _page(20, 25),
        "chat-2000": _page(28, 30),
        "more-2000": {"error": "/c/list/ answered 500"},
    }
    assert _page_target("long", pages) == ("p95 < 100 ms", False)
    assert _page_target("long-earlier", pages) == ("p95 < 100 ms", True)
    assert _page_target("home-2000", pages) == (
        "p50 ≤ 1.25 x the 20-conversation page's + 2 ms",
        True,  # 26 ≤ 1.25 x 20 + 2
    )
    assert _page_target("chat-2000", pages) == (
        "p50 ≤ 1.25 x the 20-conversation page's + 2 ms",
        False,  # 28 > 1.25 x 20 + 2
    )
    assert _page_target("home-20", pages) is None
    assert _page_target("more-2000", pages) is None

    table = render_pages(CONFIGS[:1], {("embedded", "pages"): {"pages": pages, "notes": []}})
    assert (
        "| Conversation page, 500 messages | 60.0 / 120.0 ms, 60.0 ms, 10 KB ✗ not met |" in table
    )
    assert "failed: /c/list/ answered 500" in table


def test_the_page_checks_follow_the_sidebars_page_size() -> None:
    from bench.run import PAGES, SIDEBAR_PAGE
    from conversations.views import SIDEBAR_PAGE as APP_PAGE

    assert SIDEBAR_PAGE == APP_PAGE
    home = next(p for p in PAGES if p.key == "home-2000")
    assert home.holds[-1] == f"Chat {2000 - APP_PAGE + 1} about"


# --- The /v1 scenarios ----------------------------------------------------------------------


def test_each_api_scenario_sits_beside_the_socket_scenario_it_matches() -> None:
    for scenarios, keys in ((FULL, ("1", "50", "200")), (SMOKE, ("1", "50"))):
        by_key = {s.key: s for s in scenarios}
        order = [s.key for s in scenarios]
        for n in keys:
            socket, api = by_key[f"c{n}"], by_key[f"api{n}"]
            assert order.index(api.key) == order.index(socket.key) + 1
            assert (api.transport, socket.transport) == ("api", "ws")
            assert (api.concurrent, api.tokens, api.delay, api.rounds) == (
                socket.concurrent, socket.tokens, socket.delay, socket.rounds,
            )  # fmt: skip


class _Failing(Reply):
    def directive(self) -> str:
        return f"[[fake tokens={self.tokens} delay=0 error_event_after=2]]"


def test_the_api_client_sends_its_token_and_counts_an_error_event_as_failed() -> None:
    async def run(base_url: str, reply: Reply, token: str) -> ChatResult:
        return await direct_chat(base_url, reply, "fake-model", time.monotonic() + 10, token=token)

    with FakeUpstream(api_key="cwp_bench") as upstream:
        good = asyncio.run(run(upstream.base_url, Reply(tokens=4, delay=0), "cwp_bench"))
        refused = asyncio.run(run(upstream.base_url, Reply(tokens=4, delay=0), "cwp_wrong"))
        failed = asyncio.run(run(upstream.base_url, _Failing(tokens=4, delay=0), "cwp_bench"))
        sent = [r.headers["authorization"] for r in upstream.chat_requests]
    assert sent == ["Bearer cwp_bench", "Bearer cwp_wrong", "Bearer cwp_bench"]
    assert good.failure is None
    assert good.done_at is not None
    assert refused.failure == "handshake"
    assert failed.failure == "error_frame"
    assert len(failed.delta_times) == 2


# --- The images scenario ---------------------------------------------------------------------


def test_the_screenshot_is_a_full_hd_png_of_a_realistic_size_and_always_the_same() -> None:
    import io

    from PIL import Image

    from bench.images import screenshot_png

    data = screenshot_png()
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("PNG", (1920, 1080))
    assert 300_000 <= len(data) <= 2_000_000
    assert screenshot_png.__wrapped__(21) == data
    assert screenshot_png.__wrapped__(22) != data


@pytest.mark.asyncio
async def test_the_upstream_finds_the_directive_in_a_message_with_an_image(bench_upstream) -> None:
    reply = Reply(tokens=6, delay=0, seed=3)
    content = [
        {"type": "text", "text": f"{reply.directive()} What is on this screenshot?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    body = {
        "model": "fake-model",
        "stream": True,
        "messages": [{"role": "user", "content": content}],
    }

    def read() -> str:
        with httpx.stream("POST", f"{bench_upstream}/chat/completions", json=body) as response:
            lines = [line[6:] for line in response.iter_lines() if line.startswith("data: {")]
        return "".join(
            choice["delta"].get("content") or ""
            for line in lines
            for choice in json.loads(line)["choices"]
        )

    assert await asyncio.to_thread(read) == reply.text()


def test_the_images_note_compares_the_text_chats_with_and_without_uploads() -> None:
    from bench.images import ImageResult, figures, note

    alone = summarise(
        [ChatResult(opened_at=0.0, first_text_at=0.05, delta_times=[0.05, 0.09])], {0: ""}
    )
    direct = summarise([ChatResult(opened_at=0.0, first_text_at=0.01)], {0: ""})
    results = [ImageResult(upload_s=0.6), ImageResult(upload_s=0.8), ImageResult(failure="upload")]
    f = figures(results, alone, direct)
    assert (f["images"], f["images_completed"], f["images_reasons"]) == (3, 2, {"upload": 1})
    assert f["upload_p50"] == pytest.approx(700)
    assert f["without_added_p50"] == pytest.approx(40)
    assert f["without_gap_p99"] == pytest.approx(40)
    f.update(added_p50=55.0, added_p99=90.0, gap_p50=40.0, gap_p99=70.0)
    assert note("SQLite", f) == (
        "**Images** (SQLite): the text chats' added TTFT p50 / p99 +55 / +90 ms and "
        "inter-delta gap p50 / p99 40 / 70 ms while 3 other chats uploaded a 1920x1080 PNG "
        "(2 completed; upload p50 / p99 700 / 798 ms), against +40 / +40 ms and 40 / 40 ms "
        "for the same load alone."
    )


def test_the_images_scenario_runs_in_the_full_bench_only() -> None:
    scenario = next(s for s in FULL if s.key == "images")
    assert scenario.images > 0
    assert scenario.transport == "ws"
    # Not in the smoke run: 28 s for 10 text chats and 2 images (CI's budget is short).
    assert "images" not in {s.key for s in SMOKE}


# --- The floor (bench/floor.py): the same chats, no app -------------------------------------


# channels closes the test database's old connections around each consumer message.
@pytest.mark.django_db
@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["relay", "frames"])
async def test_the_floor_sends_the_exact_reply_in_the_apps_frames(
    bench_upstream, monkeypatch, mode: str
) -> None:
    from channels.testing import WebsocketCommunicator

    from bench import floor

    monkeypatch.setattr(floor, "MODE", mode)
    monkeypatch.setattr(floor, "UPSTREAM", bench_upstream)
    monkeypatch.setattr(floor, "_client", None)
    reply = Reply(tokens=30, delay=0.002, cjk=True, seed=3)
    socket = WebsocketCommunicator(floor.application, "/ws/conversations/7/")
    connected, _ = await socket.connect()
    assert connected
    try:
        await socket.send_json_to({"type": "send", "text": f"{reply.directive()} Please answer."})
        seqs: list[int] = []
        parts: list[str] = []
        while True:
            frame = await socket.receive_json_from(timeout=10)
            if frame["type"] == "done":
                break
            assert frame["type"] == "delta"
            seqs.append(frame["seq"])
            parts.append(frame["text"])
        assert "".join(parts) == reply.text()
        assert seqs == list(range(1, len(seqs) + 1))
        assert frame["message"]["content"] == reply.text()
        assert frame["message"]["status"] == "done"
        assert floor._running == 0
    finally:
        await socket.disconnect()
        if floor._client is not None:
            await floor._client.aclose()


def test_the_floor_is_run_only_when_asked_for() -> None:
    assert [c.key for c in chosen_configs([], "postgres://x", "redis://y")] == ["embedded", "pg"]
    assert chosen_configs([], "postgres://x", "redis://y")[1].database_url == "postgres://x"
    chosen = chosen_configs(["embedded", "frames", "floor"], "", "")
    assert [(c.key, c.floor) for c in chosen] == [
        ("embedded", ""),
        ("floor", "relay"),
        ("frames", "frames"),
    ]
