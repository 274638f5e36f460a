"""The canary key never appears in any response, frame, log line or export of a full run."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from catalog.models import ChatModel, Provider, Quota
from conversations.models import Conversation
from tests.catalog.conftest import CANARY_KEY
from tests.conftest import frames_until, is_done
from tests.upstream import FakeUpstream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_the_canary_key_is_absent_from_every_page_frame_log_line_and_export(
    connect, alice, django_user_model, keyed_upstream: FakeUpstream, caplog, settings
):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "django", "catalog", "streaming", "conversations"):
        caplog.set_level(logging.DEBUG, logger=name)
    settings.AUTO_TITLE = True
    seen: list[str] = []
    admin = await sync_to_async(django_user_model.objects.create_superuser)(
        "root", password="root-password-1"
    )
    client = Client()
    await sync_to_async(client.force_login)(admin)

    def visit(method: str, url: str, data: Any = None) -> Any:
        response = getattr(client, method)(url, data or {})
        body = b"".join(response) if response.streaming else response.content
        seen.append(body.decode("utf-8", errors="replace"))
        seen.append(json.dumps(dict(response.headers)))
        return response

    # An OpenAI-style provider through the admin form; a second one whose server wants
    # another key, so its 401 echoes ours back (as real servers do).
    with FakeUpstream(api_key="sk-some-other-key") as refusing:

        def admin_setup() -> None:
            for name, url in [("openai", keyed_upstream.base_url), ("refusing", refusing.base_url)]:
                visit(
                    "post",
                    reverse("admin:catalog_provider_add"),
                    {"name": name, "base_url": url, "api_key": CANARY_KEY,
                     "extra_headers": "{}", "timeout_seconds": "5", "enabled": "on",
                     "title_model": "gpt-4o-mini"},
                )  # fmt: skip
            ids = list(Provider.objects.order_by("name").values_list("pk", flat=True))
            visit("post", reverse("admin:catalog_provider_changelist"),
                  {"action": "test_connection", "_selected_action": ids})  # fmt: skip
            openai = Provider.objects.get(name="openai")
            visit("post", reverse("admin:catalog_provider_add_models"),
                  {"provider": openai.pk, "model_id": ["gpt-4o", "gpt-4o-mini"]})  # fmt: skip
            ChatModel.objects.create(
                provider=Provider.objects.get(name="refusing"), model_id="x", name="refused"
            )
            Quota.objects.create(user=alice, tokens_per_month=1_000_000)

        await sync_to_async(admin_setup)()
        assert await ChatModel.objects.acount() == 3

        # A full chat: an answer (and its title), a stopped answer, a refused key.
        conversation = await Conversation.objects.acreate(user=alice, model="gpt-4o")
        socket = await connect(alice, conversation.pk)
        frames: list[dict[str, Any]] = []
        await socket.send_json_to({"type": "send", "text": "[[fake tokens=5]] hello"})
        frames += await frames_until(socket, is_done)
        frames += await frames_until(socket, lambda f: f["type"] == "title")
        await socket.send_json_to({"type": "send", "text": "[[fake tokens=400 delay=0.01]]"})
        frames += await frames_until(socket, lambda f: f["type"] == "delta")
        await socket.send_json_to({"type": "stop"})
        frames += await frames_until(socket, is_done)
        await socket.send_json_to({"type": "send", "text": "hi", "model": "refused"})
        frames += await frames_until(socket, is_done)
        assert frames[-1]["message"]["error_code"] == "upstream_http_error"
        assert "Incorrect API key provided: ***" in frames[-1]["message"]["error"]
        await socket.send_json_to({"type": "sync"})
        frames += await frames_until(socket, lambda f: f["type"] == "snapshot")
        seen.append(json.dumps(frames))

        def pages() -> None:
            openai = Provider.objects.get(name="openai")
            model = ChatModel.objects.get(name="gpt-4o")
            for url in [
                reverse("admin:index"),
                reverse("admin:catalog_provider_changelist"),
                reverse("admin:catalog_provider_change", args=[openai.pk]),
                reverse("admin:catalog_provider_history", args=[openai.pk]),
                reverse("admin:catalog_provider_delete", args=[openai.pk]),
                reverse("admin:catalog_chatmodel_changelist"),
                reverse("admin:catalog_chatmodel_change", args=[model.pk]),
                reverse("admin:catalog_quota_changelist"),
                reverse("admin:catalog_usagerecord_changelist"),
                reverse("admin:catalog_usagerecord_export"),
                reverse("admin:conversations_message_changelist"),
                reverse("admin:conversations_conversation_change", args=[conversation.pk]),
                reverse("admin:auth_user_changelist"),
                reverse("usage"),
                "/",
            ]:
                response = visit("get", url)
                assert response.status_code == 200, url
            client.force_login(alice)
            visit("get", reverse("usage"))
            visit("get", f"/c/{conversation.pk}/")

        await sync_to_async(pages)()

    # The key did reach the upstream, so the run really used it...
    assert any(
        r.headers.get("authorization") == f"Bearer {CANARY_KEY}" for r in keyed_upstream.requests
    )
    # ...and nothing else.
    assert len(seen) > 40
    leaks = [text[:200] for text in seen if CANARY_KEY in text]
    assert leaks == []
    assert CANARY_KEY not in caplog.text
    assert CANARY_KEY[3:] not in "".join(seen) + caplog.text  # not even without its prefix
