"""The channel layer and the caches of each configuration (chatweb/settings.py picks one):
Redis when REDIS_URL is set, else the embedded defaults of one process."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
