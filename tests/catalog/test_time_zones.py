"""A quota refusal says when it resets in the reader's time zone (accounts.timezones) on
the page, on the socket and in the API, while the windows stay TIME_ZONE's calendar
periods (catalog.usage). The clock is frozen at 2026-03-14 10:30 UTC (19:30 in Tokyo)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from django.utils.html import escape

from accounts.models import UserSettings
from catalog import quotas, usage
from catalog.models import Quota
from tests.conftest import frames_until, is_done

UTC = dt.UTC


def in_tokyo(user) -> None:
    UserSettings.objects.update_or_create(user=user, defaults={"time_zone": "Asia/Tokyo"})


def refused(user) -> quotas.QuotaExceeded:
    with pytest.raises(quotas.QuotaExceeded) as info:
        quotas.check(user, live_answers=0)
    return info.value


@pytest.mark.django_db
def test_the_hours_reset_reads_in_the_active_zone(alice, frozen_clock):
    Quota.objects.create(user=alice, requests_per_hour=1)
    quotas.check(alice, live_answers=0)
    with timezone.override("Asia/Tokyo"):
        error = refused(alice)
    assert error.resets_at == dt.datetime(2026, 3, 14, 11, 0, tzinfo=UTC)
    assert "It resets at 20:00 (JST)." in error.message


@pytest.mark.django_db
def test_the_day_window_stays_the_servers_and_its_end_reads_in_the_readers_zone(
    alice, frozen_clock, settings
):
    settings.TIME_ZONE = "UTC"
    Quota.objects.create(user=alice, tokens_per_day=100)
    usage.record(
        user_id=alice.pk, username="alice", provider="ollama", model="llama", kind="answer",
        outcome="done", prompt_tokens=100, completion_tokens=0, estimated=False,
    )  # fmt: skip
    with timezone.override("Asia/Tokyo"):
        # The day is UTC's (it began 10.5 hours ago), not Tokyo's (which began 19.5 ago).
        assert usage.day_start() == dt.datetime(2026, 3, 14, tzinfo=UTC)
        error = refused(alice)
    assert error.resets_at == dt.datetime(2026, 3, 15, tzinfo=UTC)
    # Midnight UTC is 09:00 the next day in Tokyo: the date is said too.
    assert "It resets at March 15, 09:00 (JST)." in error.message
    with timezone.override("America/Los_Angeles"):
        assert "It resets at 17:00 (PDT)." in refused(alice).message


@pytest.mark.django_db(transaction=True)
def test_the_first_message_forms_refusal_reads_in_the_users_zone(
    alice, alice_client, frozen_clock, upstream
):
    in_tokyo(alice)
    Quota.objects.create(user=alice, requests_per_hour=1)
    quotas.check(alice, live_answers=0)
    response = alice_client.post("/c/new/", {"text": "Plan a trip"})
    assert response.status_code == 400
    body = response.content.decode()
    assert escape("It resets at 20:00 (JST).") in body
    assert "(UTC)" not in body
    assert upstream.requests == []


@pytest.mark.django_db
def test_the_usage_page_shows_resets_in_the_users_zone(alice, alice_client, frozen_clock):
    in_tokyo(alice)
    Quota.objects.create(user=alice, tokens_per_day=1000, tokens_per_month=9000)
    html = alice_client.get("/usage/").text
    # The day's and the month's ends (midnight UTC), as Tokyo reads them.
    assert "Resets Mar 15, 09:00" in html
    assert "Resets Apr 1, 09:00" in html
    assert "Resets Mar 15, 00:00" not in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_sockets_refusal_reads_in_the_users_zone(
    connect, alice, bob, frozen_clock, upstream, settings
):
    from conversations.models import Conversation

    await sync_to_async(in_tokyo)(alice)
    settings.MAX_REQUEST_PER_HOUR = 1
    frames = {}
    for user in (alice, bob):  # bob has no zone: the server's (UTC)
        conversation = await Conversation.objects.acreate(user=user)
        socket = await connect(user, conversation.pk)
        await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]]"})
        await frames_until(socket, is_done)
        await socket.send_json_to({"type": "send", "text": "[[fake tokens=2]]"})
        error = await frames_until(socket, lambda f: f["type"] == "error")
        frames[user.username] = error[-1]
    assert frames["alice"]["code"] == "rate_limited"
    assert "It resets at 20:00 (JST)." in frames["alice"]["message"]
    assert "It resets at 11:00 (UTC)." in frames["bob"]["message"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_apis_refusal_reads_in_the_token_owners_zone(
    live, alice, conversation, frozen_clock, upstream
):
    from tests.api.conftest import token_for

    await sync_to_async(in_tokyo)(alice)
    await Quota.objects.acreate(user=alice, requests_per_hour=1)
    await sync_to_async(quotas.check)(alice, live_answers=0)
    api = await token_for(alice, ["chat"])
    refused = await api.post(f"/conversations/{conversation.pk}/messages", {"text": "hi"})
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert "It resets at 20:00 (JST)." in error["message"]


@pytest.mark.django_db
def test_the_api_reads_the_owners_zone_in_the_same_query_as_the_token(
    alice, django_assert_num_queries
):
    from accounts import api_tokens, timezones

    in_tokyo(alice)
    made = api_tokens.create(user=alice, name="script", scopes=["chat"], days=30)
    # The token with its owner and their settings, then its last use: no query for the zone.
    with django_assert_num_queries(2):
        token = api_tokens.authenticate(made.secret, address=None)
        assert timezones.user_zone(token.user) == zoneinfo.ZoneInfo("Asia/Tokyo")
