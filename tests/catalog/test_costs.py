"""Costs on the ledger (at the price in force when a row is written) and money budgets
(user, group, site) at their boundaries, with the clock frozen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from catalog import costs, quotas, usage
from catalog.models import ChatModel, Quota, UsageRecord

pytestmark = pytest.mark.django_db


def spend(user, model: str, prompt: int, completion: int) -> UsageRecord:
    return usage.record(
        user_id=user.pk, username=user.username, provider="openai", model=model,
        kind="answer", outcome="done", prompt_tokens=prompt, completion_tokens=completion,
        estimated=False,
    )  # fmt: skip


def refused(user) -> quotas.QuotaExceeded:
    with pytest.raises(quotas.QuotaExceeded) as info:
        quotas.check(user, live_answers=0)
    return info.value


@pytest.fixture
def priced(catalog_models) -> ChatModel:
    """gpt-4o at 2.50 per million prompt tokens and 10.00 per million answer tokens."""
    model: ChatModel = catalog_models["gpt-4o"]
    model.input_price, model.output_price = Decimal("2.50"), Decimal("10.00")
    model.save()
    return model


def test_a_row_costs_its_tokens_at_the_models_prices_exactly(alice, priced, frozen_clock):
    row = spend(alice, "gpt-4o", 1234, 567)
    row.refresh_from_db()
    # 1234 * 2.50 / 1e6 + 567 * 10.00 / 1e6 = 0.003085 + 0.00567
    assert row.cost == Decimal("0.008755")


def test_a_price_change_applies_to_later_rows_and_never_rewrites_earlier_ones(
    alice, priced, frozen_clock
):
    before = spend(alice, "gpt-4o", 1_000_000, 200_000)  # 2.50 + 2.00
    frozen_clock.advance(hours=1)
    priced.input_price, priced.output_price = Decimal("3.00"), Decimal("12.50")
    priced.save()  # as the admin saves it: the catalog's copy is reloaded
    after = spend(alice, "gpt-4o", 1_000_000, 200_000)  # 3.00 + 2.50
    before.refresh_from_db()
    after.refresh_from_db()
    assert (before.cost, after.cost) == (Decimal("4.50"), Decimal("5.50"))
    assert (after.cost or 0) - (before.cost or 0) == Decimal("1.00")
    assert costs.spent_since(alice.pk, usage.month_start()) == Decimal("10.00")


def test_the_bulk_writer_prices_every_row_too(alice, priced, frozen_clock):
    rows = [
        usage.entry(
            user_id=alice.pk,
            username="alice",
            provider="openai",
            model=name,
            kind="answer",
            outcome="done",
            prompt_tokens=400_000,
            completion_tokens=0,
            estimated=False,
        )
        for name in ("gpt-4o", "llama")
    ]
    usage.record_all(rows)
    assert dict(UsageRecord.objects.values_list("model", "cost")) == {
        "gpt-4o": Decimal("1.00"),
        "llama": None,
    }


def test_an_unpriced_model_and_an_env_model_have_no_cost(alice, catalog_models, frozen_clock):
    only_input = catalog_models["llama"]
    only_input.input_price = Decimal("1")  # one price is not a price: still unpriced
    only_input.save()
    assert spend(alice, "llama", 10, 10).cost is None
    assert spend(alice, "fake-model", 10, 10).cost is None  # OPENAI_API_MODEL's
    assert costs.spent_since(alice.pk, usage.month_start()) == Decimal(0)


def test_models_added_from_test_connection_have_no_prices(admin_client, ollama):
    admin_client.post(
        reverse("admin:catalog_provider_add_models"),
        {"provider": ollama.pk, "model_id": ["fresh-model"]},
    )
    added = ChatModel.objects.get(provider=ollama, model_id="fresh-model")
    assert (added.input_price, added.output_price) == (None, None)
    assert spend_model_cost(added.name) is None


def spend_model_cost(name: str):
    return usage.record(
        user_id=None, username="x", provider="ollama", model=name, kind="answer",
        outcome="done", prompt_tokens=10, completion_tokens=10, estimated=False,
    ).cost  # fmt: skip


# --- Budgets ------------------------------------------------------------------------------


def test_a_users_own_budget_refuses_at_the_limit_and_resets_on_the_first(
    alice, priced, frozen_clock
):
    Quota.objects.create(user=alice, budget_per_month=Decimal("5.00"))
    spend(alice, "gpt-4o", 1_000_000, 249_999)  # 4.99999
    quotas.check(alice, live_answers=0)
    spend(alice, "gpt-4o", 0, 1)  # 0.00001: exactly 5.00
    error = refused(alice)
    assert error.code == "budget_user"
    assert error.resets_at == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert error.message == (
        "You have reached your monthly budget of 5.00 USD. It resets at April 1, 00:00 (UTC)."
    )
    frozen_clock.set(dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    quotas.check(alice, live_answers=0)


def test_the_most_generous_group_budget_applies_and_says_it_is_the_groups(
    alice, team, priced, frozen_clock, settings
):
    from django.contrib.auth.models import Group

    settings.CURRENCY = "EUR"
    other = Group.objects.create(name="other")
    alice.groups.add(other)
    Quota.objects.create(group=team, budget_per_month=Decimal("2.00"))
    Quota.objects.create(group=other, budget_per_month=Decimal("3.00"))
    Quota.objects.create(budget_per_month=Decimal("100.00"))  # the site's: not used
    spend(alice, "gpt-4o", 1_000_000, 0)  # 2.50: over team's, under other's
    quotas.check(alice, live_answers=0)
    spend(alice, "gpt-4o", 200_000, 0)  # 3.00
    error = refused(alice)
    assert error.code == "budget_group"
    assert "your group's monthly budget of 3.00 EUR a person" in error.message
    assert "April 1, 00:00" in error.message


def test_the_site_budget_is_everyones_default_and_zero_on_a_user_lifts_it(
    alice, bob, priced, frozen_clock
):
    Quota.objects.create(budget_per_month=Decimal("1.00"))
    spend(bob, "gpt-4o", 400_000, 0)  # 1.00
    error = refused(bob)
    assert error.code == "budget_site"
    assert "the site's monthly budget of 1.00 USD a person" in error.message
    quotas.check(alice, live_answers=0)  # bob's spending is not alice's
    Quota.objects.create(user=bob, budget_per_month=Decimal("0"))
    quotas.check(bob, live_answers=0)


def test_a_refused_budget_does_not_count_a_request(alice, priced, frozen_clock):
    Quota.objects.create(user=alice, budget_per_month=Decimal("0.01"), requests_per_hour=5)
    spend(alice, "gpt-4o", 4000, 0)  # 0.01
    refused(alice)
    assert quotas.requests_this_hour(alice.pk) == 0


def test_the_refusal_reads_in_chinese(alice, priced, frozen_clock):
    from django.utils import translation

    Quota.objects.create(user=alice, budget_per_month=Decimal("1.00"))
    spend(alice, "gpt-4o", 400_000, 0)
    with translation.override("zh-hans"):
        message = refused(alice).message
    assert "1.00 USD" in message
    assert "预算" in message


# --- The usage page -----------------------------------------------------------------------


def test_the_usage_page_shows_the_cost_by_model_and_the_budget(
    alice, alice_client, priced, frozen_clock
):
    Quota.objects.create(user=alice, budget_per_month=Decimal("20.00"))
    spend(alice, "gpt-4o", 1_000_000, 100_000)  # 3.50
    spend(alice, "gpt-4o", 2_000_000, 0)  # 5.00
    spend(alice, "llama", 500, 50)  # unpriced
    body = alice_client.get(reverse("usage")).content.decode()
    assert "Cost (USD)" in body
    assert '<th scope="row">gpt-4o</th><td>2</td><td>3,000,000</td>' in body
    assert "<td>3,100,000</td><td>8.50</td></tr>" in body
    assert '<th scope="row">llama</th>' in body
    assert 'title="This model has no price">\u2013</span>' in body
    assert "<td>3,100,550</td><td>8.50</td></tr></tfoot>" in body
    assert "8.50 USD / 20.00 USD" in body
    assert 'value="42"' in body  # 8.50 of 20.00
