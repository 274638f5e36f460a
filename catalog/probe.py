"""The admin's "test connection": GET <base URL>/models on a provider, synchronously.

It runs in an admin request (a sync view, in a thread without an event loop), so it runs
a short-lived client of the model client's own (modelclient.providers.new_client: the
same transport and the same proxy as the provider's answers) in an event loop of its own.
Errors come back as sentences without the key or the proxy's credentials.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from catalog import config, snapshot
from modelclient.providers import ProviderConfig, new_client

if TYPE_CHECKING:
    from catalog.models import Provider

PROBE_TIMEOUT_S = 15.0
BODY_LIMIT = 2_000_000


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    model_ids: list[str]
    error: str = ""
    # On failure, a code of realtime/codes.py (the same ones a failed answer stores).
    code: str = ""
    # The listed ids the provider says read images (takes_images()).
    image_ids: frozenset[str] = field(default_factory=frozenset)


def takes_images(item: dict[str, Any]) -> bool:
    """Whether a /models entry says the model reads images, in any of the ways providers
    say it: OpenRouter's architecture.input_modalities, an Ollama-style `capabilities`
    list with "vision", LiteLLM's supports_vision (itself or in model_info)."""
    architecture = item.get("architecture")
    if isinstance(architecture, dict):
        modalities = architecture.get("input_modalities")
        if isinstance(modalities, list) and "image" in modalities:
            return True
    capabilities = item.get("capabilities")
    if isinstance(capabilities, list) and "vision" in capabilities:
        return True
    info = item.get("model_info")
    return item.get("supports_vision") is True or (
        isinstance(info, dict) and info.get("supports_vision") is True
    )


def _scrub(text: str, key: str) -> str:
    if key:
        text = text.replace(key, "***")
    text = " ".join(text.split())
    return text[:300]


def list_models(config: ProviderConfig) -> ProbeResult:
    headers = dict(config.headers)
    headers["Accept"] = "application/json"
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    url = f"{config.base_url.rstrip('/')}/models"
    timeout = httpx.Timeout(min(config.timeout_s, PROBE_TIMEOUT_S))

    async def get() -> tuple[httpx.Response, bytes]:
        async with new_client(config.proxy) as client:
            response = await client.get(url, headers=headers, timeout=timeout)
            return response, response.content[:BODY_LIMIT]

    try:
        response, body = asyncio.run(get())
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        code = "upstream_unreachable"
        if isinstance(exc, httpx.ProxyError):
            code = "upstream_proxy"
        elif isinstance(exc, httpx.TimeoutException):
            code = "upstream_timeout"
        text = _scrub(f"Could not reach {url}: {reason}", config.api_key)
        return ProbeResult(False, [], text, code)
    if not response.is_success:
        detail = body.decode("utf-8", errors="replace")
        code = "upstream_rate_limited" if response.status_code == 429 else "upstream_http_error"
        text = _scrub(f"{url} answered HTTP {response.status_code}: {detail}", config.api_key)
        return ProbeResult(False, [], text, code)
    try:
        payload = response.json()
        data = payload["data"] if isinstance(payload, dict) else payload
        items = [item for item in data if isinstance(item, dict) and "id" in item]
    except (ValueError, KeyError, TypeError):
        text = f"{url} did not answer with a list of models."
        return ProbeResult(False, [], text, "upstream_stream_error")
    ids = sorted({str(item["id"]) for item in items})
    images = frozenset(str(item["id"]) for item in items if takes_images(item))
    return ProbeResult(True, ids, image_ids=images)


def mark_image_models(provider: Provider, image_ids: frozenset[str]) -> int:
    """Set "accepts images" on the provider's models it says read images; a model it says
    nothing about keeps what the admin set. How many models changed."""
    if not image_ids:
        return 0
    changed: int = provider.models.filter(model_id__in=image_ids, accepts_images=False).update(
        accepts_images=True
    )
    if changed:
        snapshot.changed()  # an update() sends no signal: every process reloads the catalog
    return changed


def check(provider: Provider) -> ProbeResult:
    """Test `provider`'s connection and store the result on it (Provider.record_check)."""
    try:
        result = list_models(config.provider_config(provider))
    except config.ModelUnavailable as exc:
        result = ProbeResult(False, [], exc.message, exc.code)
    provider.record_check(ok=result.ok, code=result.code, detail=result.error)
    mark_image_models(provider, result.image_ids)
    return result


def summary(provider: Provider) -> str:
    """The provider's last connection check in a sentence (its admin page and the admin's index)."""
    if provider.checked_at is None:
        return gettext("Never checked")
    when = date_format(timezone.localtime(provider.checked_at), "DATETIME_FORMAT")
    if provider.check_ok:
        return gettext("Worked: %(when)s") % {"when": when}
    return gettext("Failed: %(when)s (%(code)s)") % {"when": when, "code": provider.check_code}
