"""The admin's landing page: today's answers, errors by code, busiest models, providers'
last checks (conversations/dashboard.py, templates/admin/_dashboard.html)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from catalog import clock
from catalog.models import Provider
from conversations import dashboard
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 14, 15, 0, tzinfo=dt.UTC)
TODAY = NOW.replace(hour=9)
YESTERDAY = NOW - dt.timedelta(days=1)


def answer(conversation: Conversation, *, status: str, model: str, code: str = "", at=TODAY):
    return Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, status=status, model=model,
        error_code=code, created_at=at,
    )  # fmt: skip


@pytest.fixture
def traffic(alice: Any) -> None:
    """Today: 4 done (3 on gpt, 1 on llama), 2 errors (1 rate limit, 1 unreachable) and one
    stopped; yesterday: 5 errors on old-model, which today's figures must not count."""
    chat = Conversation.objects.create(user=alice, title="chat")
    Message.objects.create(conversation=chat, role=Message.Role.USER, created_at=TODAY)
    for _ in range(3):
        answer(chat, status="done", model="gpt")
    answer(chat, status="done", model="llama")
    answer(chat, status="error", model="gpt", code="upstream_rate_limited")
    answer(chat, status="error", model="llama", code="upstream_unreachable")
    answer(chat, status="stopped", model="llama")
    for _ in range(5):
        answer(chat, status="error", model="old-model", code="upstream_timeout", at=YESTERDAY)


def test_today_counts_only_todays_answers(traffic):
    with clock.frozen(NOW):
        today = dashboard.today()
    assert today.answers == 7
    assert [(r.key, r.count) for r in today.by_status] == [
        ("done", 4), ("error", 2), ("stopped", 1),
    ]  # fmt: skip
    assert [(r.key, r.count) for r in today.errors_by_code] == [
        ("upstream_rate_limited", 1), ("upstream_unreachable", 1),
    ]  # fmt: skip
    assert [(r.key, r.count) for r in today.busiest_models] == [("gpt", 4), ("llama", 3)]


def test_the_admin_opens_on_todays_figures(admin_client, traffic):
    Provider.objects.create(name="never", base_url="http://127.0.0.1:9/v1")
    checked = Provider.objects.create(name="ollama", base_url="http://127.0.0.1:9/v1")
    with clock.frozen(NOW):
        checked.record_check(ok=False, code="upstream_unreachable", detail="refused")
        body = admin_client.get(reverse("admin:index")).content.decode()
    # First on the page, above the apps' list.
    assert body.index('id="chatweb-dashboard"') < body.index('class="app-catalog')
    main = body[body.index('id="chatweb-dashboard"') : body.index('class="app-catalog')]
    assert '<tr class="dashboard-total"><th scope="row">All answers</th><td>7</td></tr>' in main
    assert '<tr data-status="done"><th scope="row">Done</th><td>4</td></tr>' in main
    assert "<code>upstream_rate_limited</code></th><td>1</td>" in main
    assert '<tr data-model="gpt"><th scope="row">gpt</th><td>4</td></tr>' in main
    assert "old-model" not in main
    never = main[main.index('data-provider="never"') :]
    assert "Never checked" in never[: never.index("</tr>")]
    failed = main[main.index('data-provider="ollama"') :]
    assert failed.startswith('data-provider="ollama" class="check-failed"')
    assert "(upstream_unreachable)" in failed[: failed.index("</tr>")]


def test_the_landing_pages_queries_do_not_grow_with_traffic(admin_client, alice):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(reverse("admin:index")).status_code == 200
        return len(captured)

    quiet = queries()
    chat = Conversation.objects.create(user=alice, title="busy")
    for n in range(30):
        answer(chat, status="error", model=f"m{n % 7}", code=f"code_{n % 4}", at=clock.now())
        Provider.objects.create(name=f"p{n}", base_url="http://127.0.0.1:9/v1")
    assert queries() == quiet
    # The user, their settings, the dashboard's four (statuses, codes, models, providers)
    # and the admin's recent actions.
    assert quiet == 7


def test_the_figures_are_for_those_who_may_read_the_usage_ledger(client, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    body = client.get(reverse("admin:index")).content.decode()
    assert "Chatweb administration" in body
    assert "chatweb-dashboard" not in body


def test_the_admin_is_chatwebs_in_english_and_chinese(admin_client, admin_user):
    body = admin_client.get(reverse("admin:index")).content.decode()
    assert "Chatweb administration" in body
    assert "Django administration" not in body
    assert "Django site admin" not in body
    assert "favicon.svg" in body
    # The request activates Chinese in this thread; override() puts English back after.
    with translation.override("en"):
        body = admin_client.get(
            reverse("admin:index"), headers={"accept-language": "zh-hans"}
        ).content.decode()
    assert "Chatweb 管理" in body
    assert "今天" in body
