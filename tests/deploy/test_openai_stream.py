"""/v1/chat/completions streams through the project's nginx: the first chunks arrive while
the upstream is still answering (nothing buffered on the way)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.deploy.conftest import STAFF_USERNAME, Stack
from tests.servers import manage
from tests.upstream import token_text

pytestmark = pytest.mark.deploy

_TOKEN = f"""
from django.contrib.auth import get_user_model
from accounts import api_tokens
user = get_user_model().objects.get(username={STAFF_USERNAME!r})
print(api_tokens.create(user=user, name="deploy /v1", scopes=["chat"]).secret)
"""


def test_the_first_chunks_of_v1_arrive_through_nginx_before_the_upstream_ends(stack: Stack):
    secret = manage(stack.env, "shell", "-c", _TOKEN).strip().splitlines()[-1]
    before = len(stack.upstream.chat_requests)
    # Three tokens, then the upstream goes silent until its client leaves: a proxy that
    # buffered would hold them back, and the read would time out.
    body = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "hi [[fake tokens=10 hang_after=3]]"}],
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {secret}"}
    texts: list[str] = []
    with (
        httpx.Client(timeout=httpx.Timeout(10)) as http,
        http.stream(
            "POST", stack.nginx.base_url + "/v1/chat/completions", headers=headers, json=body
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            delta = json.loads(line[len("data: ") :])["choices"][0]["delta"]
            texts.append(delta.get("content") or "")
            if "".join(texts) == "".join(token_text(i) for i in range(3)):
                break
        upstream = stack.upstream.chat_requests[before]
        # The text arrived while the upstream request was still open.
        assert not upstream.finished.is_set()
        assert upstream.tokens_sent == 3


_LIMITED = f"""
from django.contrib.auth import get_user_model
from accounts import api_tokens
user = get_user_model().objects.get(username={STAFF_USERNAME!r})
issued = api_tokens.create(user=user, name="deploy /v1 limited", scopes=["chat"],
                           requests_per_hour=1)
print(issued.token.public_id, issued.secret)
"""


def test_a_tokens_hourly_limit_holds_across_instances_and_each_call_is_in_the_ledger(
    stack: Stack,
):
    public_id, secret = manage(stack.env, "shell", "-c", _LIMITED).strip().splitlines()[-1].split()
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "[[fake tokens=3]]"}]}
    headers = {"Authorization": f"Bearer {secret}"}
    first, second = (
        httpx.post(
            f"{instance.base_url}/v1/chat/completions", headers=headers, json=body, timeout=20
        )
        for instance in stack.instances
    )
    assert first.status_code == 200, first.text
    assert first.json()["choices"][0]["message"]["content"] == "".join(
        token_text(i) for i in range(3)
    )
    # The other instance counts the same hour in the shared Redis: the limit is one call.
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limited"
    assert second.headers["x-should-retry"] == "false"
    rows = manage(
        stack.env, "shell", "-c",
        "from catalog.models import UsageRecord; "
        f"print([(r.kind, r.outcome, r.completion_tokens) for r in "
        f"UsageRecord.objects.filter(api_token={public_id!r})])",
    ).strip().splitlines()[-1]  # fmt: skip
    assert rows == "[('api', 'done', 3)]"
