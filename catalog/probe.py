"""The admin's "test connection": GET <base URL>/models on a provider, synchronously.

It runs in an admin request (a sync view), so it uses a short-lived httpx.Client rather
than the streaming client of the event loop. Errors come back as sentences without the key.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from modelclient.providers import ProviderConfig

PROBE_TIMEOUT_S = 15.0
BODY_LIMIT = 2_000_000


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    model_ids: list[str]
    error: str = ""


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
    try:
        with httpx.Client(timeout=timeout, headers={"User-Agent": "chatweb"}) as client:
            response = client.get(url, headers=headers)
            body = response.content[:BODY_LIMIT]
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        return ProbeResult(False, [], _scrub(f"Could not reach {url}: {reason}", config.api_key))
    if not response.is_success:
        detail = body.decode("utf-8", errors="replace")
        return ProbeResult(
            False,
            [],
            _scrub(f"{url} answered HTTP {response.status_code}: {detail}", config.api_key),
        )
    try:
        payload = response.json()
        data = payload["data"] if isinstance(payload, dict) else payload
        ids = sorted({str(item["id"]) for item in data if isinstance(item, dict) and "id" in item})
    except (ValueError, KeyError, TypeError):
        return ProbeResult(False, [], f"{url} did not answer with a list of models.")
    return ProbeResult(True, ids)
