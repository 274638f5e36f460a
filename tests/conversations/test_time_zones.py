"""The conversation list's date groups and the Markdown export's dates, in the reader's
time zone (accounts.timezones), with the clock frozen (catalog.clock.frozen)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import UserSettings
from catalog import clock
from conversations import transfer
from conversations.dates import date_group
from conversations.models import Conversation

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# 10:30 UTC on 7 December is 00:30 on 8 December at Kiritimati (UTC+14) and 00:30 on
# 7 December in Honolulu (UTC-10): just past midnight, both ways from UTC.
NOW = dt.datetime(2026, 12, 7, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "updated", "group"),
    [
        # 09:00 UTC: 23:00 the day before at Kiritimati, 09:00 today in UTC.
        ("Pacific/Kiritimati", dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "Yesterday"),
        ("UTC", dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "Today"),
        # 10:15 UTC on the 7th is 00:15 in Honolulu (today) but 10:15 UTC on the 6th is
        # 00:15 the day before there.
        ("Pacific/Honolulu", dt.datetime(2026, 12, 7, 10, 15, tzinfo=UTC), "Today"),
        ("Pacific/Honolulu", dt.datetime(2026, 12, 6, 10, 15, tzinfo=UTC), "Yesterday"),
        # 08:00 UTC on the 6th: 22:00 on the 6th at Kiritimati, two days ago there.
        ("Pacific/Kiritimati", dt.datetime(2026, 12, 6, 8, 0, tzinfo=UTC), "Previous 7 days"),
        ("UTC", dt.datetime(2026, 12, 6, 8, 0, tzinfo=UTC), "Yesterday"),
        ("UTC", dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC), "Previous 30 days"),
        ("UTC", dt.datetime(2026, 10, 1, 8, 0, tzinfo=UTC), "October"),
        ("UTC", dt.datetime(2025, 10, 1, 8, 0, tzinfo=UTC), "October 2025"),
    ],
)
def test_date_groups_are_calendar_days_in_the_active_zone(zone, updated, group):
    with clock.frozen(NOW), timezone.override(zone):
        assert date_group(updated) == group


def groups_in_sidebar(client: Client) -> dict[str, str]:
    """{title: date group} of the conversation list on the home page."""
    html = client.get("/").text
    found = re.findall(
        r'data-date-group="([^"]*)">\s*<a class="conv-link"[^>]*title="([^"]*)"', html
    )
    return {title: group for group, title in found}


def test_the_sidebar_groups_across_midnight_in_the_users_zone(alice, bob):
    late = dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 23:00 on the 7th at Kiritimati
    for user in (alice, bob):
        made = Conversation.objects.create(user=user, title=f"late chat of {user.username}")
        Conversation.objects.filter(pk=made.pk).update(updated_at=late)
    UserSettings.objects.create(user=alice, time_zone="Pacific/Kiritimati")
    clients = {}
    for user in (alice, bob):
        clients[user.username] = Client()
        clients[user.username].force_login(user)
    with clock.frozen(NOW):
        alices = groups_in_sidebar(clients["alice"])
        bobs = groups_in_sidebar(clients["bob"])
    assert alices == {"late chat of alice": "Yesterday"}
    assert bobs == {"late chat of bob": "Today"}  # bob has no zone: the server's (UTC)


def test_the_sidebar_labels_in_the_users_language_too(alice):
    made = Conversation.objects.create(user=alice, title="晚上")
    Conversation.objects.filter(pk=made.pk).update(
        updated_at=dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    )
    UserSettings.objects.create(user=alice, time_zone="Pacific/Kiritimati", language="zh-hans")
    client = Client()
    client.force_login(alice)
    with clock.frozen(NOW):
        assert groups_in_sidebar(client) == {"晚上": "昨天"}


def test_the_markdown_export_dates_read_in_the_users_zone(alice, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
        updated_at=dt.datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
    )
    conversation.refresh_from_db()
    with timezone.override("Asia/Shanghai"):
        text = transfer.export_markdown(conversation=conversation)
    assert "*Started 2026-12-07 17:00, last updated 2026-12-07 18:00 (Asia/Shanghai)*" in text
    UserSettings.objects.create(user=alice, time_zone="America/Sao_Paulo")
    client = Client()
    client.force_login(alice)
    exported = client.get(f"/c/{conversation.pk}/export.md")
    assert exported.status_code == 200, exported
    assert "(America/Sao_Paulo)" in exported.content.decode()
    assert "2026-12-07 06:00" in exported.content.decode()
