"""The admin's usage dashboard: its figures match the ledger (per day in TIME_ZONE, per
model, per user), its charts and tables, the CSV, and a bad period refused."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse

from catalog import clock, usage
from catalog.models import UsageRecord

pytestmark = pytest.mark.django_db

URL = "admin:catalog_usagerecord_dashboard"


def row(user, model, tokens, cost, at, kind="answer"):
    with clock.frozen(at):
        record = usage.record(
            user_id=user.pk, username=user.username, provider="p", model=model, kind=kind,
            outcome="done", prompt_tokens=tokens, completion_tokens=0, estimated=False,
        )  # fmt: skip
    UsageRecord.objects.filter(pk=record.pk).update(cost=cost)


@pytest.fixture
def ledger(alice, bob, settings):
    settings.TIME_ZONE = "Asia/Shanghai"  # UTC+8: 20:00 UTC is the next day there
    at = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    row(alice, "gpt-4o", 1000, Decimal("1.25"), at)
    row(alice, "gpt-4o", 500, Decimal("0.50"), at.replace(hour=20))  # March 2 in Shanghai
    row(alice, "gpt-4o", 30, Decimal("0.01"), at.replace(hour=20), kind="title")
    row(bob, "llama", 2000, None, at.replace(day=3))
    row(bob, "gpt-4o", 100, Decimal("0.10"), at.replace(day=3))
    row(bob, "gpt-4o", 9999, Decimal("9.99"), at.replace(day=10))  # after the period


def get(admin_client, **params):
    return admin_client.get(reverse(URL), {"start": "2026-03-01", "end": "2026-03-05", **params})


def table(body: str, name: str) -> list[list[str]]:
    part = body.split(f'id="table-{name}"')[1].split("</tbody>")[0].split("<tbody>")[1]
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr) for tr in part.split("</tr>") if tr]


def test_the_figures_per_day_model_and_user_match_the_ledger(admin_client, ledger):
    response = get(admin_client)
    assert response.status_code == 200
    body = response.content.decode()
    assert table(body, "day") == [
        ["2026-03-01", "1", "1,000", "1.25"],
        ["2026-03-02", "1", "530", "0.51"],
        ["2026-03-03", "2", "2,100", "0.10"],
        ["2026-03-04", "0", "0", "0.00"],
        ["2026-03-05", "0", "0", "0.00"],
    ]
    assert table(body, "model") == [
        ["gpt-4o", "3", "1,630", "1.86"],
        ["llama", "1", "2,000", "0.00"],
    ]
    assert table(body, "user") == [["alice", "2", "1,530", "1.76"], ["bob", "2", "2,100", "0.10"]]
    # The period's totals are the ledger's own.
    since = dt.datetime(2026, 2, 28, 16, tzinfo=dt.UTC)
    until = dt.datetime(2026, 3, 5, 16, tzinfo=dt.UTC)
    ledger_sum = UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until).aggregate(
        t=Sum("total_tokens"), c=Sum("cost")
    )
    assert (ledger_sum["t"], ledger_sum["c"]) == (3630, Decimal("1.86"))
    assert "In this period: 4 answers, 3,630 tokens, 1.86 USD." in body


def test_each_chart_is_an_svg_with_a_title_and_a_bar_per_value(admin_client, ledger):
    body = get(admin_client).content.decode()
    charts = re.findall(r"<svg role=\"img\".*?</svg>", body, flags=re.S)
    assert len(charts) == 7  # answers, tokens and cost per day; cost and tokens per model, user
    day_tokens = next(c for c in charts if 'aria-labelledby="day-tokens-title"' in c)
    assert '<title id="day-tokens-title">Tokens per day</title>' in day_tokens
    assert day_tokens.count('class="bar"') == 5
    model_cost = next(c for c in charts if "model-cost-title" in c)
    assert "<title>gpt-4o: 1.86</title>" in model_cost
    assert "<script" not in body.split('id="content-main"')[1]


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        ("day", ["2026-03-02", "1", "2", "530", "0.51000000"]),
        ("model", ["llama", "1", "1", "2000", "0.00000000"]),
        ("user", ["bob", "2", "2", "2100", "0.10000000"]),
    ],
)
def test_the_csv_of_each_table(admin_client, ledger, view, expected):
    response = get(admin_client, csv=view)
    assert response["Content-Type"].startswith("text/csv")
    assert f"chatweb-usage-by-{view}-20260301-20260305.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][1:] == ["answers", "requests", "tokens", "cost_USD"]
    assert expected in rows


def test_a_bad_period_is_refused_and_nothing_is_computed(admin_client, ledger):
    response = admin_client.get(reverse(URL), {"start": "2026-03-05", "end": "2026-03-01"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "The end date is before the start date." in body
    assert "table-day" not in body
    response = admin_client.get(reverse(URL), {"start": "2025-01-01", "end": "2026-03-01"})
    assert "at most 366 days" in response.content.decode()
    assert admin_client.get(reverse(URL), {"start": "nonsense"}).status_code == 400


def test_the_default_period_is_this_month(admin_client, alice):
    with clock.frozen(dt.datetime(2026, 3, 14, 10, tzinfo=dt.UTC)):
        body = admin_client.get(reverse(URL)).content.decode()
    assert 'value="2026-03-01"' in body
    assert 'value="2026-03-14"' in body
    assert body.count('class="bar"') == 3 * 14


def test_the_period_form_keeps_iso_dates_in_chinese(admin_client, alice):
    body = admin_client.get(
        reverse(URL),
        {"start": "2026-03-01", "end": "2026-03-02"},
        headers={"accept-language": "zh-hans"},
    ).content.decode()
    assert "按日" in body
    assert 'value="2026-03-01"' in body


def test_the_dashboard_is_for_staff_only(client, alice_client):
    assert client.get(reverse(URL)).status_code == 302
    assert alice_client.get(reverse(URL)).status_code == 302


def test_a_model_named_like_a_formula_is_a_plain_cell_in_the_csv(admin_client, ledger, alice):
    row(alice, "=HYPERLINK(1)", 10, Decimal("0.01"), dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC))
    rows = list(csv.reader(io.StringIO(get(admin_client, csv="model").content.decode())))
    assert ["'=HYPERLINK(1)", "1", "1", "10", "0.01000000"] in rows
