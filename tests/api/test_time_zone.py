"""/v1's quota refusals say when the limit resets in the token owner's time zone
(accounts.timezones), against a live daphne."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.v1_server import V1Server
from tests.servers import manage

pytestmark = pytest.mark.slow


def test_a_refusal_reads_in_the_token_owners_zone(v1: V1Server):
    # dave's quota is 5 tokens a day: no prompt fits. The day is the server's (UTC).
    manage(
        v1.daphne.env, "shell", "-c",
        "from accounts.models import UserSettings; "
        "UserSettings.objects.update_or_create(user__username='dave', "
        "defaults={'time_zone': 'Asia/Kolkata', "
        "'user': __import__('django.contrib.auth', fromlist=['x']).get_user_model()"
        ".objects.get(username='dave')})",
    )  # fmt: skip
    refused = httpx.post(
        v1.base_url + "/chat/completions",
        headers={"Authorization": f"Bearer {v1.secret('dave')}"},
        content=json.dumps(
            {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        ),
        timeout=20,
    )
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "quota_tokens_day"
    # Midnight UTC is 05:30 in Kolkata; "(IST)" only appears in Kolkata's time.
    assert ", 05:30 (IST)." in error["message"] or "at 05:30 (IST)." in error["message"]
