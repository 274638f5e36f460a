"""Attached files through nginx (nginx/chatweb.conf.template): a 5 MB image reaches the app
and is stored; a body over the attachments location's limit is refused by nginx itself
(413), so ATTACHMENT_MAX_BYTES and client_max_body_size are raised together."""

from __future__ import annotations

import io
import os
from contextlib import closing

import httpx
import pytest
from PIL import Image

from tests.deploy.conftest import Stack
from tests.servers import create_user, sign_in

pytestmark = pytest.mark.deploy


def _noise_png(side: int) -> bytes:
    """A PNG of random pixels (it barely compresses: about 3 bytes a pixel)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


def _upload(client: httpx.Client, raw: bytes) -> httpx.Response:
    return client.post(
        "/attachments/",
        files={"file": ("noise.png", raw, "image/png")},
        headers={"Referer": f"{client.base_url}/", "X-CSRFToken": client.cookies["csrftoken"]},
        timeout=60,
    )


def test_a_5_mb_image_is_attached_through_nginx(stack: Stack) -> None:
    create_user(stack.env, "attacher", "attacher-password-1")
    raw = _noise_png(1300)
    assert len(raw) > 4 * 1024 * 1024
    with closing(sign_in(stack.nginx.base_url, "attacher", "attacher-password-1")) as client:
        response = _upload(client, raw)
        assert response.status_code == 201, response.text[:300]
        assert response.json()["attachment"]["kind"] == "image"

        too_big = _upload(client, b"x" * (22 * 1024 * 1024))
        assert too_big.status_code == 413
