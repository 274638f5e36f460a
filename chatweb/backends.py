"""The channel layer and the caches of each configuration (chatweb/settings.py picks one):
Redis when REDIS_URL is set, else the embedded defaults of one process; and where
attachments are stored (ATTACHMENT_STORAGE)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

Settings = tuple[dict[str, Any], dict[str, Any]]


def layer_prefix(redis_url: str, configured: str) -> str:
    """CHANNEL_LAYER_PREFIX, else one naming the Redis database.

    Redis pub/sub channels ignore the database number, so two deployments (or test
    runs) sharing one Redis server with different databases would hear each other's
    conversations; putting the number in the prefix keeps them apart as the database
    number keeps their keys apart.
    """
    if configured:
        return configured
    db = urlsplit(redis_url).path.strip("/") or "0"
    return f"chatweb.db{db}."


def redis(redis_url: str, *, prefix: str) -> Settings:
    """CHANNEL_LAYERS and CACHES on Redis."""
    # The pub/sub layer: every message is pushed to the processes that subscribed, so a
    # socket's frames never wait in (or overflow) a per-process queue as with
    # RedisChannelLayer, whose one `capacity` bounds a whole process's backlog. There is
    # no capacity to exceed and nothing to expire; a message for a channel or group
    # nobody listens to is dropped at once (a closed socket's frames). Ours publishes in
    # pipelines (streaming/layers.py).
    layers = {
        "default": {
            "BACKEND": "streaming.layers.PipelinedPubSubChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": layer_prefix(redis_url, prefix)},
        }
    }
    # Django's RedisCache with one connection pool per process, not per socket (cache.py).
    caches: dict[str, Any] = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}
    }
    # The catalog's version (catalog/snapshot.py), seen by every instance.
    caches["catalog"] = caches["default"]
    return layers, caches


def embedded(data_dir: Path) -> Settings:
    """CHANNEL_LAYERS and CACHES of one process (no Redis)."""
    # channels' InMemoryChannelLayer without its per-message scans (streaming/layers.py).
    layers = {
        "default": {
            "BACKEND": "streaming.layers.EmbeddedChannelLayer",
            "CONFIG": {"capacity": 1000},
        }
    }
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        # The catalog's version (catalog/snapshot.py) in a file beside the database, so
        # that a change made by another process (a manage.py command beside `make run`)
        # is seen too: the in-memory cache is this process's alone.
        "catalog": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(data_dir / "cache" / "catalog"),
        },
    }
    return layers, caches


def attachments(
    kind: str,
    *,
    data_dir: Path,
    bucket: str,
    endpoint_url: str,
    region: str,
    access_key_id: str,
    secret_access_key: str,
) -> dict[str, object]:
    """STORAGES["attachments"]: DATA_DIR/attachments ("local"), or an S3-compatible bucket
    ("s3"), checked. The objects are private (ACL "private", no public URL): every byte
    goes out through Chatweb's views."""
    if kind != "s3":
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": data_dir / "attachments", "base_url": "/unused/"},
        }
    if not bucket:
        raise ImproperlyConfigured(
            "ATTACHMENT_STORAGE=s3 needs ATTACHMENT_S3_BUCKET: the name of the bucket files go in."
        )
    if endpoint_url and not re.match(r"https?://[^/]", endpoint_url):
        raise ImproperlyConfigured(
            "ATTACHMENT_S3_ENDPOINT_URL must be an http(s) URL, e.g. http://minio:9000."
        )
    if bool(access_key_id) != bool(secret_access_key):
        raise ImproperlyConfigured(
            "Set both ATTACHMENT_S3_ACCESS_KEY_ID and ATTACHMENT_S3_SECRET_ACCESS_KEY, or neither."
        )
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            "region_name": region or None,
            "access_key": access_key_id or None,
            "secret_key": secret_access_key or None,
            "default_acl": "private",
            # A name is never reused (a new one is chosen), and url() would sign a link
            # for a short while if anything called it; nothing does.
            "file_overwrite": False,
            "querystring_auth": True,
            "querystring_expire": 60,
        },
    }
