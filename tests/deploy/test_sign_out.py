"""Signing out on one instance closes the session's socket on the other (docs/security.md)."""

from __future__ import annotations

import asyncio
from contextlib import closing

import pytest
from websockets.asyncio.client import connect

from tests.deploy.conftest import Stack
from tests.servers import create_user, csrf_post, sign_in

pytestmark = [pytest.mark.deploy, pytest.mark.asyncio]


async def test_signing_out_on_instance_a_closes_the_socket_on_instance_b(stack: Stack) -> None:
    a, b = stack.instances
    await asyncio.to_thread(create_user, stack.env, "leaver", "leaver-password-1")
    client = await asyncio.to_thread(sign_in, a.url, "leaver", "leaver-password-1")
    with closing(client):
        created = await asyncio.to_thread(
            csrf_post, client, "/c/new/", {"text": "[[fake tokens=2]]"}
        )
        assert created.status_code == 302, created.text[:300]
        path = created.headers["Location"].replace("/c/", "/ws/conversations/")
        cookie = f"sessionid={client.cookies['sessionid']}"
        socket = await connect(
            f"{b.ws_url}{path}",
            origin=b.url,  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie},
            open_timeout=10,
        )
        try:
            response = await asyncio.to_thread(csrf_post, client, "/accounts/logout/", {})
            assert response.status_code == 302
            # Closed by instance B, told through Redis by instance A.
            await asyncio.wait_for(socket.wait_closed(), 10)
            assert socket.close_code == 4401
        finally:
            await socket.close()
