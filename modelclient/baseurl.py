"""One rule for an OpenAI-compatible base URL, shared by settings and the admin's providers.

No Django import here: chatweb/settings.py uses it while settings are being read.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def normalize_base_url(raw: str) -> str:
    """An http(s) URL with a host; a bare host (chatgpt-web's style) gets /v1.

    Raises ValueError for anything else; its text follows the setting's name.
    """
    parts = urlsplit(raw.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(
            f"must be an http(s) URL such as https://api.openai.com or "
            f"http://localhost:11434/v1, not {raw!r}."
        )
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query string or a fragment: {raw!r}.")
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"
