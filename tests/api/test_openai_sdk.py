"""/v1 through the official `openai` package, sync and async, against a live daphne and
the fake upstream (real HTTP all the way): what the SDK gets is what the model sent."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.api.v1_server import V1Server
from tests.upstream import expected_text

pytestmark = pytest.mark.slow


def client(v1: V1Server, token: str = "alice", **options: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=v1.base_url, api_key=v1.secret(token), timeout=20, **options)  # type: ignore[arg-type]


def test_a_completion_returns_the_models_text_and_its_usage(v1: V1Server):
    with client(v1) as sdk:
        completion = sdk.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "hi [[fake tokens=5]]"}],
        )
    assert completion.choices[0].message.content == expected_text(5)
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "fake-model"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 5


def test_a_streamed_completion_gives_the_text_in_chunks_the_role_first(v1: V1Server):
    with client(v1) as sdk:
        stream = sdk.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "hi [[fake tokens=12]]"}],
            stream=True,
        )
        chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected_text(12)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_include_usage_gives_exactly_one_final_usage_chunk(v1: V1Server):
    with client(v1) as sdk:
        chunks = list(
            sdk.chat.completions.create(
                model="fake-model",
                messages=[{"role": "user", "content": "hi [[fake tokens=6]]"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1
    assert with_usage[0] is chunks[-1]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6


def test_the_async_client_streams_and_completes(v1: V1Server):
    async def run() -> tuple[str, str]:
        async with openai.AsyncOpenAI(
            base_url=v1.base_url, api_key=v1.secret("alice"), timeout=20
        ) as sdk:
            whole = await sdk.chat.completions.create(
                model="fake-model-2",
                messages=[
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "hi [[fake tokens=4]]"}]},
                ],
            )
            stream = await sdk.chat.completions.create(
                model="fake-model",
                messages=[{"role": "user", "content": "hi [[fake tokens=9]]"}],
                stream=True,
            )
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return whole.choices[0].message.content or "", "".join(parts)

    whole, streamed = asyncio.run(run())
    assert whole == expected_text(4)
    assert streamed == expected_text(9)


def test_models_list_is_the_owners_models_narrowed_by_the_allowlist(v1: V1Server):
    with client(v1) as sdk:
        assert [m.id for m in sdk.models.list()] == ["fake-model", "fake-model-2"]
        assert sdk.models.retrieve("fake-model").owned_by == "environment"
    with client(v1, "allowlist") as sdk:
        assert [m.id for m in sdk.models.list()] == ["fake-model-2"]
        with pytest.raises(openai.PermissionDeniedError) as refused:
            sdk.models.retrieve("fake-model")
        assert refused.value.code == "model_not_allowed"
        with pytest.raises(openai.NotFoundError) as missing:
            sdk.models.retrieve("gpt-4o")
        assert missing.value.code == "model_not_found"


@pytest.mark.parametrize(
    ("token", "error", "code"),
    [
        ("expired", openai.AuthenticationError, "token_expired"),
        ("revoked", openai.AuthenticationError, "token_revoked"),
        ("models_only", openai.PermissionDeniedError, "insufficient_scope"),
    ],
)
def test_a_token_that_may_not_chat_is_refused(
    v1: V1Server, token: str, error: type[openai.APIStatusError], code: str
):
    before = len(v1.upstream.chat_requests)
    with client(v1, token, max_retries=0) as sdk, pytest.raises(error) as refused:
        sdk.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.code == code
    assert len(v1.upstream.chat_requests) == before


def test_a_malformed_token_is_refused_and_so_is_models_without_its_scope(v1: V1Server):
    with openai.OpenAI(base_url=v1.base_url, api_key="cwp_not-a-token", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as refused:
            sdk.models.list()
        assert refused.value.code == "invalid_api_key"
    with client(v1, "chat_only") as sdk, pytest.raises(openai.PermissionDeniedError) as scoped:
        sdk.models.list()
    assert scoped.value.code == "insufficient_scope"


def test_a_model_outside_the_allowlist_or_not_open_is_refused(v1: V1Server):
    before = len(v1.upstream.chat_requests)
    with client(v1, "allowlist") as sdk:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            sdk.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "hi"}]
            )
        assert refused.value.code == "model_not_allowed"
        with pytest.raises(openai.NotFoundError) as missing:
            sdk.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
        assert missing.value.code == "model_not_found"
    assert len(v1.upstream.chat_requests) == before


def counting_client(v1: V1Server, token: str) -> tuple[openai.OpenAI, list[httpx.Request]]:
    sent: list[httpx.Request] = []
    http = httpx.Client(timeout=20, event_hooks={"request": [sent.append]})
    return client(v1, token, http_client=http), sent


def test_an_exhausted_token_quota_is_one_request_and_none_upstream(v1: V1Server):
    sdk, sent = counting_client(v1, "limited")
    with sdk:
        first = sdk.chat.completions.with_raw_response.create(
            model="fake-model", messages=[{"role": "user", "content": "hi [[fake tokens=2]]"}]
        )
        assert first.headers["x-ratelimit-limit-requests"] == "1"
        assert first.headers["x-ratelimit-remaining-requests"] == "0"
        before = len(v1.upstream.chat_requests)
        with pytest.raises(openai.RateLimitError) as refused:
            sdk.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "hi"}]
            )
    assert len(sent) == 2  # the first call, then exactly one: no retry
    assert len(v1.upstream.chat_requests) == before
    response = refused.value.response
    assert refused.value.code == "rate_limited"
    assert response.headers["x-should-retry"] == "false"
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-ratelimit-remaining-requests"] == "0"


def test_an_exhausted_token_budget_is_refused_before_the_upstream(v1: V1Server):
    sdk, sent = counting_client(v1, "dave")  # 5 tokens a day: no prompt fits
    before = len(v1.upstream.chat_requests)
    with sdk, pytest.raises(openai.RateLimitError) as refused:
        sdk.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "a question of some length"}]
        )
    assert len(sent) == 1
    assert refused.value.code == "quota_tokens_day"
    assert refused.value.type == "insufficient_quota"
    assert len(v1.upstream.chat_requests) == before


def test_a_users_requests_per_hour_apply_to_the_api(v1: V1Server):
    sdk, sent = counting_client(v1, "carol")  # carol: 2 requests an hour
    with sdk:
        for _ in range(2):
            sdk.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "[[fake tokens=1]]"}]
            )
        with pytest.raises(openai.RateLimitError) as refused:
            sdk.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "[[fake tokens=1]]"}]
            )
    assert refused.value.code == "rate_limited"
    assert len(sent) == 3


@pytest.mark.parametrize("failure", ["error_event_after=3", "drop_after=3"])
def test_a_mid_stream_upstream_failure_makes_the_sdk_raise(v1: V1Server, failure: str):
    with client(v1) as sdk:
        stream = sdk.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": f"hi [[fake tokens=8 {failure}]]"}],
            stream=True,
        )
        received: list[str] = []

        def read_all() -> None:
            for chunk in stream:
                received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")

        with pytest.raises(openai.APIError) as failed:
            read_all()
    assert "".join(received) == expected_text(3)
    code = "upstream_stream_error" if failure.startswith("error") else "upstream_disconnected"
    assert failed.value.code == code
    rows = v1.wait_for_rows("alice", 1)
    assert any(row["outcome"] == "error" for row in rows)


def test_a_silence_longer_than_the_keep_alive_does_not_break_the_sdk(v1: V1Server):
    message: ChatCompletionMessageParam = {
        "role": "user",
        "content": "hi [[fake tokens=3 delay=0.7]]",
    }
    raw = httpx.post(
        v1.base_url + "/chat/completions",
        headers={"Authorization": f"Bearer {v1.secret('alice')}"},
        json={"model": "fake-model", "messages": [message], "stream": True},
        timeout=20,
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-accel-buffering"] == "no"
    assert raw.headers["cache-control"] == "no-cache"
    assert ": keep-alive\n\n" in raw.text  # 0.7 s silences, a keep-alive every 0.2 s
    assert raw.text.endswith("data: [DONE]\n\n")
    with client(v1) as sdk:
        stream = sdk.chat.completions.create(model="fake-model", messages=[message], stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == expected_text(3)


def test_a_reply_that_spends_the_token_budget_ends_with_a_quota_error(v1: V1Server):
    # frank: 60 tokens a day. The fake upstream ignores max_tokens; Chatweb counts the
    # reply as it comes and stops it when the budget is spent, as it does an answer.
    before = len(v1.upstream.chat_requests)
    with client(v1, "frank") as sdk:
        stream = sdk.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "[[fake tokens=200 delay=0.01]]"}],
            stream=True,
        )
        with pytest.raises(openai.APIError) as spent:
            list(stream)
    assert spent.value.code == "quota_tokens_day"
    upstream = v1.upstream.chat_requests[before]
    assert upstream.json["max_tokens"] < 60  # asked for no more than was left
    assert upstream.finished.wait(10)
    assert upstream.tokens_sent < 200
    (row,) = v1.wait_for_rows("frank", 1)
    assert (row["kind"], row["outcome"]) == ("api", "error")


def test_a_reasoning_models_thinking_comes_as_reasoning_content(v1: V1Server):
    from tests.upstream import expected_thinking

    ask = "hi [[fake tokens=4 think=5 thinkform=reasoning]]"
    with client(v1) as sdk:
        chunks = list(
            sdk.chat.completions.create(
                model="fake-model",
                messages=[{"role": "user", "content": ask}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        whole = sdk.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": ask}]
        )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    thinking = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert thinking == expected_thinking(5)
    assert "".join(d.content or "" for d in deltas) == expected_text(4)
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 5
    message = whole.choices[0].message
    assert message.content == expected_text(4)
    assert getattr(message, "reasoning_content", None) == expected_thinking(5)
