"""The storage quota for attached files (#21): Quota.storage_bytes, resolved like the other
limits, checked before a file is stored and again under the user's lock."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from catalog import quotas
from catalog.models import Quota
from conversations import attachment_files
from conversations import attachments as attaching
from conversations.models import Attachment
from realtime.codes import ProtocolError
from tests.conversations.test_attachments import png, send, stored_files


def test_the_storage_quota_resolves_like_the_other_limits(alice: Any, bob: Any) -> None:
    team = Group.objects.create(name="team")
    alice.groups.add(team)
    assert quotas.limits_for(alice).storage_bytes == 0  # no row anywhere: no limit
    Quota.objects.create(storage_bytes=1000)
    Quota.objects.create(group=team, storage_bytes=5000)
    assert quotas.limits_for(bob).storage_bytes == 1000
    assert quotas.limits_for(alice).storage_bytes == 5000
    Quota.objects.create(user=alice, storage_bytes=0)
    assert quotas.limits_for(alice).storage_bytes == 0


@pytest.mark.django_db(transaction=True)
def test_a_file_past_the_quota_is_refused_and_writes_nothing(
    alice: Any, alice_client: Client
) -> None:
    first = send(alice_client, "a.txt", b"a" * 3000)
    assert first.status_code == 201
    Quota.objects.create(user=alice, storage_bytes=5000)
    refused = send(alice_client, "b.txt", b"b" * 2500)
    assert refused.status_code == 413
    body = refused.json()
    assert body["code"] == "attachment_quota"
    assert body["error"] == (
        "You have used 2.9\xa0KB of your 4.9\xa0KB for files; “b.txt” is 2.4\xa0KB. "
        "Delete conversations with files you no longer need to make room."
    )
    assert Attachment.objects.count() == 1
    assert len(stored_files()) == 1
    # What still fits is taken.
    assert send(alice_client, "c.txt", b"c" * 1900).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_thumbnail_counts_towards_the_quota(alice: Any, alice_client: Client) -> None:
    body = send(alice_client, "a.png", png(600, 400)).json()["attachment"]
    row = Attachment.objects.get(pk=body["id"])
    assert row.thumbnail_size > 0
    assert Attachment.objects.for_user(alice.pk).stored_bytes() == row.size + row.thumbnail_size


@pytest.mark.django_db(transaction=True)
def test_rows_sharing_a_file_count_it_once(alice: Any, alice_client: Client) -> None:
    body = send(alice_client, "a.txt", b"a" * 3000).json()["attachment"]
    row = Attachment.objects.get(pk=body["id"])
    row.pk = None
    row.save()  # an edited message's copy names the same file
    assert Attachment.objects.for_user(alice.pk).stored_bytes() == 3000


@pytest.mark.django_db(transaction=True)
def test_the_quota_is_checked_again_when_the_row_is_made(alice: Any) -> None:
    # Two uploads that both passed the first check: the second to reach the locked check
    # finds the room taken by the first and is refused.
    Quota.objects.create(user=alice, storage_bytes=5000)
    processed = attachment_files.process("b.txt", b"b" * 3000)
    attaching.check_room(alice, alice.pk, "b.txt", 3000)  # passes now
    other = attachment_files.process("a.txt", b"a" * 3000)
    attaching._create(alice, alice.pk, other, attaching.save_files(alice.pk, other))
    names = attaching.save_files(alice.pk, processed)
    with pytest.raises(ProtocolError) as refused:
        attaching._create(alice, alice.pk, processed, names)
    assert refused.value.code == "attachment_quota"
    assert Attachment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_admin_edits_the_storage_quota(admin_client: Client, alice: Any) -> None:
    url = reverse("admin:catalog_quota_add")
    page = admin_client.get(url)
    assert 'name="storage_bytes"' in page.content.decode()
    response = admin_client.post(url, {"user": alice.pk, "storage_bytes": "20971520"})
    assert response.status_code == 302
    assert Quota.objects.get(user=alice).storage_bytes == 20 * 1024 * 1024
