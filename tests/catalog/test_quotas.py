"""Quotas at their boundaries, with the clock frozen (catalog.clock)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group

from catalog import quotas, usage
from catalog.models import Quota

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def spend(user, tokens: int) -> None:
    usage.record(
        user_id=user.pk, username=user.username, provider="ollama", model="llama",
        kind="answer", outcome="done", prompt_tokens=tokens, completion_tokens=0,
        estimated=False,
    )  # fmt: skip


def refused(user, live: int = 0) -> quotas.QuotaExceeded:
    with pytest.raises(quotas.QuotaExceeded) as info:
        quotas.check(user, live_answers=live)
    return info.value


def test_the_nth_request_of_the_hour_passes_and_the_next_is_refused_until_the_hour_ends(
    alice, frozen_clock
):
    Quota.objects.create(user=alice, requests_per_hour=3)
    for _ in range(3):
        quotas.check(alice, live_answers=0)
    error = refused(alice)
    assert error.code == "rate_limited"
    assert error.resets_at == dt.datetime(2026, 3, 14, 11, 0, tzinfo=UTC)
    assert "3 requests per hour" in error.message
    assert "resets at 11:00" in error.message
    # A refused attempt is not counted.
    assert quotas.requests_this_hour(alice.pk) == 3
    frozen_clock.set(dt.datetime(2026, 3, 14, 10, 59, 59, tzinfo=UTC))
    assert refused(alice).code == "rate_limited"
    frozen_clock.set(dt.datetime(2026, 3, 14, 11, 0, tzinfo=UTC))
    quotas.check(alice, live_answers=0)


def test_max_request_per_hour_is_the_site_default(alice, settings, frozen_clock):
    settings.MAX_REQUEST_PER_HOUR = 2
    quotas.check(alice, live_answers=0)
    quotas.check(alice, live_answers=0)
    assert refused(alice).code == "rate_limited"


def test_tokens_per_day_at_the_boundary(alice, frozen_clock):
    Quota.objects.create(user=alice, tokens_per_day=1000)
    spend(alice, 999)
    quotas.check(alice, live_answers=0)
    spend(alice, 1)
    error = refused(alice)
    assert error.code == "quota_tokens_day"
    assert error.resets_at == dt.datetime(2026, 3, 15, tzinfo=UTC)
    assert "1,000 tokens per day" in error.message
    assert "March 15, 00:00" in error.message
    frozen_clock.set(dt.datetime(2026, 3, 15, 0, 0, tzinfo=UTC))
    quotas.check(alice, live_answers=0)


def test_tokens_per_month_at_the_boundary_and_the_day_window_follows_time_zone(
    alice, frozen_clock, settings
):
    Quota.objects.create(user=alice, tokens_per_month=5000)
    spend(alice, 4999)
    quotas.check(alice, live_answers=0)
    spend(alice, 1)
    error = refused(alice)
    assert error.code == "quota_tokens_month"
    assert error.resets_at == dt.datetime(2026, 4, 1, tzinfo=UTC)
    frozen_clock.set(dt.datetime(2026, 4, 1, tzinfo=UTC))
    quotas.check(alice, live_answers=0)


def test_the_day_starts_at_local_midnight(alice, settings):
    from catalog import clock

    settings.TIME_ZONE = "Europe/Paris"
    with clock.frozen(dt.datetime(2026, 7, 1, 21, 30, tzinfo=UTC)):  # 23:30 in Paris
        assert usage.next_day() == dt.datetime(2026, 7, 1, 22, 0, tzinfo=UTC)
        assert usage.month_start() == dt.datetime(2026, 6, 30, 22, 0, tzinfo=UTC)


def test_concurrent_answers(alice):
    Quota.objects.create(user=alice, concurrent_answers=2)
    quotas.check(alice, live_answers=1)
    error = refused(alice, live=2)
    assert error.code == "too_many_answers"
    assert error.resets_at is None
    assert "2 answers being written at a time" in error.message


def test_max_concurrent_answers_is_the_site_default(alice, settings):
    settings.MAX_CONCURRENT_ANSWERS = 3
    quotas.check(alice, live_answers=2)
    assert refused(alice, live=3).code == "too_many_answers"
    Quota.objects.create(user=alice, concurrent_answers=5)
    quotas.check(alice, live_answers=4)


def test_a_users_quota_beats_the_groups_which_beat_the_site_default(alice, bob, settings):
    settings.MAX_REQUEST_PER_HOUR = 100
    team, staff = Group.objects.create(name="team"), Group.objects.create(name="staff")
    alice.groups.add(team, staff)
    Quota.objects.create(tokens_per_day=10, requests_per_hour=5)  # the site default
    Quota.objects.create(group=team, tokens_per_day=200)
    Quota.objects.create(group=staff, tokens_per_day=300, concurrent_answers=1)
    assert quotas.limits_for(bob) == quotas.Limits(requests_per_hour=5, tokens_per_day=10)
    assert quotas.limits_for(alice) == quotas.Limits(
        requests_per_hour=5, tokens_per_day=300, concurrent_answers=1
    )
    Quota.objects.create(user=alice, tokens_per_day=0)  # 0: no limit, for her alone
    assert quotas.limits_for(alice).tokens_per_day == 0


def test_usage_counts_only_the_users_own_rows(alice, bob, frozen_clock):
    Quota.objects.create(tokens_per_day=100)
    spend(bob, 500)
    quotas.check(alice, live_answers=0)
    assert refused(bob).code == "quota_tokens_day"


def test_the_admin_refuses_a_second_site_default_and_a_quota_for_both(admin_client, alice, team):
    from django.urls import reverse

    Quota.objects.create()
    url = reverse("admin:catalog_quota_add")
    base = {"requests_per_hour": "1"}
    response = admin_client.post(url, base)
    assert "already a site default quota" in response.content.decode()
    response = admin_client.post(url, {**base, "user": alice.pk, "group": team.pk})
    assert "not both" in response.content.decode()
    response = admin_client.post(url, {**base, "user": alice.pk, "tokens_per_day": "5000"})
    assert response.status_code == 302
    assert Quota.objects.get(user=alice).tokens_per_day == 5000


# The new-chat view posts through database_sync_to_async, which closes a connection held
# inside a test transaction (fatal on PostgreSQL): this test needs real transactions.
@pytest.mark.django_db(transaction=True)
def test_over_quota_the_first_message_form_says_which_limit_and_when_it_resets(
    alice, alice_client, frozen_clock, upstream
):
    from django.utils.html import escape

    from conversations.models import Conversation

    Quota.objects.create(user=alice, requests_per_hour=1)
    quotas.check(alice, live_answers=0)
    response = alice_client.post("/c/new/", {"text": "Plan a trip"})
    assert response.status_code == 400
    body = response.content.decode()
    assert escape("You have reached your limit of 1 request per hour.") in body
    assert "It resets at 11:00 (UTC)." in body
    assert ">Plan a trip</textarea>" in body  # the draft is kept
    assert not Conversation.objects.exists()
    assert upstream.requests == []
