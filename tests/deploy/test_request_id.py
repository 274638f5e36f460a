"""Behind nginx, every request has nginx's id ($request_id), whatever the client sent; the
app logs under it and echoes it. /metrics is not served through nginx: Prometheus scrapes
each instance directly (docs/operations.md)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.deploy.conftest import Stack

pytestmark = pytest.mark.deploy


def test_nginx_gives_each_request_its_own_id(stack: Stack) -> None:
    with httpx.Client(base_url=stack.nginx.base_url, timeout=10) as client:
        first = client.get("/accounts/login/").headers["X-Request-ID"]
        second = client.get("/accounts/login/").headers["X-Request-ID"]
        chosen = client.get("/accounts/login/", headers={"X-Request-ID": "client-chosen-1"})
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second
    assert re.fullmatch(r"[0-9a-f]{32}", chosen.headers["X-Request-ID"])


def test_metrics_are_not_served_through_nginx(stack: Stack) -> None:
    response = httpx.get(f"{stack.nginx.base_url}/metrics", timeout=10)
    assert response.status_code == 404
    assert "X-Request-ID" not in response.headers  # nginx's own answer, not an instance's
