"""Attachments in an S3-compatible store (#21): the seam's whole flow against moto's real
S3 server (the s3_server fixture), and the settings that choose it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from PIL import Image

from conversations import actions
from conversations.models import Attachment, Conversation, Message
from tests.conversations.test_attachments import png, send
from tests.test_settings import read_settings


def keys(client: Any, bucket: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


@pytest.mark.django_db(transaction=True)
def test_files_live_in_the_bucket_from_upload_to_the_conversations_deletion(
    alice: Any, alice_client: Client, upstream: Any, s3_attachments: Any, settings: Any
) -> None:
    settings.OPENAI_API_IMAGE_MODELS = frozenset({"fake-model"})
    client, bucket = s3_attachments
    image = send(alice_client, "shot.png", png(300, 200)).json()["attachment"]
    document = send(alice_client, "notes.md", b"# Owls\n\nThey hoot.").json()["attachment"]
    stored = keys(client, bucket)
    assert len(stored) == 3  # the image, its thumbnail, the document
    assert all(key.startswith(f"u{alice.pk}/") for key in stored)
    # Private objects: the ACL grants nothing beyond the owner's account.
    for key in stored:
        grants = client.get_object_acl(Bucket=bucket, Key=key)["Grants"]
        assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
        assert "URI" not in grants[0]["Grantee"]

    answer = actions.start_conversation(
        user=alice, text="look", attachments=[image["id"], document["id"]]
    )
    served = alice_client.get(image["url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(served.content)).size == (300, 200)
    assert alice_client.get(document["url"]).content == b"# Owls\n\nThey hoot."
    thumb = alice_client.get(image["thumbnail_url"])
    assert thumb.status_code == 200

    Message.objects.filter(pk=answer.pk).update(status=Message.Status.DONE)
    Conversation.objects.filter(pk=answer.conversation_id).delete()
    assert not Attachment.objects.exists()
    assert keys(client, bucket) == []


@pytest.mark.django_db(transaction=True)
def test_a_refused_upload_leaves_the_bucket_empty(
    alice_client: Client, s3_attachments: Any
) -> None:
    client, bucket = s3_attachments
    response = send(alice_client, "bin.png", b"\x89PNG\r\n\x1a\nnot really")
    assert response.json()["code"] == "attachment_unreadable"
    assert keys(client, bucket) == []


def test_s3_storage_is_read_from_its_variables(tmp_path: Path) -> None:
    read = read_settings(
        tmp_path,
        ATTACHMENT_STORAGE="s3",
        ATTACHMENT_S3_BUCKET="chat-files",
        ATTACHMENT_S3_ENDPOINT_URL="http://minio:9000",
        ATTACHMENT_S3_REGION="eu-west-1",
        ATTACHMENT_S3_ACCESS_KEY_ID="AKIAEXAMPLE",
        ATTACHMENT_S3_SECRET_ACCESS_KEY="very-secret",
    )
    storage = read.STORAGES["attachments"]
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    assert storage["OPTIONS"]["bucket_name"] == "chat-files"
    assert storage["OPTIONS"]["endpoint_url"] == "http://minio:9000"
    assert storage["OPTIONS"]["region_name"] == "eu-west-1"
    assert storage["OPTIONS"]["default_acl"] == "private"


def test_local_storage_is_the_default_under_data_dir(tmp_path: Path) -> None:
    storage = read_settings(tmp_path).STORAGES["attachments"]
    assert storage["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert storage["OPTIONS"]["location"] == tmp_path / "attachments"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ATTACHMENT_STORAGE": "s3"}, "ATTACHMENT_STORAGE=s3 needs ATTACHMENT_S3_BUCKET"),
        (
            {"ATTACHMENT_STORAGE": "s3", "ATTACHMENT_S3_BUCKET": "b",
             "ATTACHMENT_S3_ENDPOINT_URL": "minio:9000"},
            "ATTACHMENT_S3_ENDPOINT_URL must be an http",
        ),
        (
            {"ATTACHMENT_STORAGE": "s3", "ATTACHMENT_S3_BUCKET": "b",
             "ATTACHMENT_S3_ACCESS_KEY_ID": "AKIAEXAMPLE"},
            "Set both ATTACHMENT_S3_ACCESS_KEY_ID and ATTACHMENT_S3_SECRET_ACCESS_KEY",
        ),
        ({"ATTACHMENT_STORAGE": "ftp"}, 'ATTACHMENT_STORAGE must be "local" or "s3"'),
    ],
)  # fmt: skip
def test_a_bad_storage_setting_fails_at_start(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        read_settings(tmp_path, **env)


def test_the_secret_key_is_hidden_from_error_reports(settings: Any, s3_server: Any) -> None:
    from django.views.debug import SafeExceptionReporterFilter

    settings.ATTACHMENT_S3_SECRET_ACCESS_KEY = "very-secret"
    settings.STORAGES = {**settings.STORAGES, "attachments": s3_server.storage_options("b")}
    shown = str(SafeExceptionReporterFilter().get_safe_settings())
    assert "very-secret" not in shown
    assert s3_server.SECRET_KEY not in shown


@pytest.mark.django_db(transaction=True)
def test_a_store_that_fails_refuses_the_upload_and_keeps_nothing(
    alice_client: Client, s3_server: Any, settings: Any
) -> None:
    # A bucket that is not there: the store refuses every write.
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": s3_server.storage_options("no-such-bucket"),
    }
    response = send(alice_client, "shot.png", png())
    assert response.status_code == 503
    assert response.json()["code"] == "attachment_storage_failed"
    assert not Attachment.objects.exists()
