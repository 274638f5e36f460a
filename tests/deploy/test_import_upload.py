"""The import is the one upload nginx lets through above 2 MB (nginx/chatweb.conf.template):
a 3 MB chatgpt-web history file reaches the app and is imported; a body over the import
location's limit is refused by nginx itself (413); other paths keep the 2 MB limit."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.deploy.conftest import Stack
from tests.servers import create_user, sign_in

pytestmark = pytest.mark.deploy

FIXTURE = Path(__file__).parent.parent / "fixtures" / "chat-store_2024-11-22.json"


def _history_of_about(size: int) -> bytes:
    """size bytes on the wire, within the import's work limits (IMPORT_MAX_CHARS): JSON
    escapes each emoji as a surrogate pair, 12 bytes a character."""
    document = json.loads(FIXTURE.read_bytes())
    filler = "\N{GRINNING FACE}" * 1000
    chat = document["data"]["chat"][1]["data"]
    while len(json.dumps(document)) < size:
        chat.append({"dateTime": "11/21/2024, 3:04:05 PM", "text": filler, "inversion": True})
    return json.dumps(document).encode()


def _upload(client: httpx.Client, path: str, raw: bytes) -> httpx.Response:
    return client.post(
        path,
        data={"csrfmiddlewaretoken": client.cookies["csrftoken"]},
        files={"file": ("chat-store_2024-11-22.json", raw, "application/json")},
        headers={"Referer": f"{client.base_url}/"},
        timeout=60,
    )


def test_a_3_mb_history_file_is_imported_through_nginx(stack: Stack) -> None:
    create_user(stack.env, "importer", "importer-password-1")
    raw = _history_of_about(3 * 1024 * 1024)
    with closing(sign_in(stack.nginx.base_url, "importer", "importer-password-1")) as client:
        response = _upload(client, "/import/", raw)
        assert response.status_code == 302, response.text[:300]

        too_big = _upload(client, "/import/", b"x" * (22 * 1024 * 1024))
        assert too_big.status_code == 413

        elsewhere = _upload(client, "/prompts/import/", raw)
        assert elsewhere.status_code == 413
