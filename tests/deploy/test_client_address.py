"""Behind nginx, a client cannot choose the address sign-in throttling counts it by
(docs/security.md, "Abuse limits"): daphne (--proxy-headers) takes the first entry of
X-Forwarded-For, so nginx must replace the header, not append to the client's own."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.deploy.conftest import Stack
from tests.servers import create_user, csrf_post

pytestmark = pytest.mark.deploy


def _attempt(client: httpx.Client, username: str, password: str, forged: str) -> httpx.Response:
    page = client.get("/accounts/login/", headers={"X-Forwarded-For": forged})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    return client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
        headers={"Referer": f"{client.base_url}/accounts/login/", "X-Forwarded-For": forged},
    )


def test_a_forged_x_forwarded_for_does_not_choose_the_address(stack: Stack) -> None:
    create_user(stack.env, "addressed", "addressed-password-1")
    with httpx.Client(base_url=stack.nginx.base_url, timeout=10) as client:
        # LOGIN_FAILURES_PER_ADDRESS (20) failures, each claiming another address.
        for n in range(20):
            response = _attempt(client, f"nobody{n}", "wrong", forged=f"203.0.113.{n}")
            assert response.status_code == 200
        # They all counted for the one address nginx saw: it is refused, whatever it says.
        refused = _attempt(client, "addressed", "addressed-password-1", forged="198.51.100.7")
        assert refused.status_code == 429, stack.logs()
        assert "Too many failed sign-in attempts." in refused.text

    # An admin sees the lock (on the loopback address, none of the forged ones) and lifts it.
    with httpx.Client(base_url=stack.nginx.base_url, cookies=stack.cookies, timeout=10) as admin:
        page = admin.get("/admin/sign-in-locks/")
        assert page.status_code == 200
        assert "127.0.0.1" in page.text
        assert "203.0.113." not in page.text
        lock = re.search(r'name="lock" value="([^"]+)"', page.text)
        assert lock
        assert csrf_post(admin, "/admin/sign-in-locks/", {"lock": lock[1]}).status_code == 302
    with httpx.Client(base_url=stack.nginx.base_url, timeout=10) as client:
        signed_in = _attempt(client, "addressed", "addressed-password-1", forged="192.0.2.1")
        assert signed_in.status_code == 302
