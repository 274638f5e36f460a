"""The catalog's pages live under the strict Content-Security-Policy (style-src 'self'):
no inline <style> element or style attribute, which the browser would ignore."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def assert_no_inline_styles(response) -> None:
    assert response.status_code == 200
    assert "style-src 'self'" in response["Content-Security-Policy"]
    body = response.content.decode()
    assert "<style" not in body
    assert " style=" not in body


def test_the_usage_page_has_no_inline_styles(alice, alice_client):
    from catalog.models import Quota

    Quota.objects.create(user=alice, tokens_per_day=100)
    assert_no_inline_styles(alice_client.get(reverse("usage")))


def test_the_catalog_admin_pages_have_no_inline_styles(admin_client, ollama, upstream):
    for url in [
        reverse("admin:catalog_provider_changelist"),
        reverse("admin:catalog_usagerecord_changelist"),
    ]:
        assert_no_inline_styles(admin_client.get(url))
    assert_no_inline_styles(
        admin_client.post(
            reverse("admin:catalog_provider_changelist"),
            {"action": "test_connection", "_selected_action": [ollama.pk]},
        )
    )
