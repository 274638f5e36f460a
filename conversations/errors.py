"""The sentence a reader sees for a failed or interrupted answer, in their language.

A failed answer stores a stable code (Message.error_code, docs/protocol.md) and the
detail as it was written then (Message.error: English, with what the model server
said). The sentence is made when the answer is shown (the page, the socket's frames),
so answers stored before a reader switched language, or before a translation existed,
read in that reader's language too. English readers get the stored text unchanged; in
another language the code's sentence, plus the model server's own words where those
are the useful part (they come from the upstream and are not translated).
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

SENTENCES: dict[str, Promise] = {
    "interrupted": gettext_lazy(
        "The server shut down while this answer was being written. The text so far is kept; "
        "you can regenerate the answer."
    ),
    "internal": gettext_lazy("Something went wrong on the server while writing this answer."),
    "database_unavailable": gettext_lazy(
        "The database could not be reached for a while, so this answer was ended early. "
        "The text so far is kept; you can regenerate the answer."
    ),
    "not_configured": gettext_lazy(
        "No model server is configured. An administrator sets OPENAI_API_KEY (and "
        "OPENAI_API_BASE_URL) in .env, or adds a provider in the admin."
    ),
    "upstream_error": gettext_lazy("The request to the model server failed."),
    "upstream_http_error": gettext_lazy("The model server refused the request."),
    "upstream_rate_limited": gettext_lazy(
        "The model server is rate limiting requests. Wait a moment, then regenerate the answer."
    ),
    "upstream_timeout": gettext_lazy("The model server did not answer in time."),
    "upstream_disconnected": gettext_lazy(
        "The connection to the model server broke before the reply was complete. "
        "The text so far is kept."
    ),
    "upstream_stream_error": gettext_lazy("The model server sent a reply Chatweb could not read."),
    "upstream_unreachable": gettext_lazy("Could not reach the model server."),
    "upstream_proxy": gettext_lazy(
        "The proxy in front of the model server refused the connection or could not be "
        "reached. An administrator checks the proxy settings."
    ),
    "quota_tokens_day": gettext_lazy(
        "This answer used up your daily token quota, so it was ended there. The text so far "
        "is kept."
    ),
    "quota_tokens_month": gettext_lazy(
        "This answer used up your monthly token quota, so it was ended there. The text so "
        "far is kept."
    ),
    "no_model": gettext_lazy("No model is available to you. Ask the administrator for access."),
    "unknown_model": gettext_lazy("This model is not available to you. Choose another model."),
    "model_unavailable": gettext_lazy("This model is no longer available. Choose another model."),
    "provider_key_unreadable": gettext_lazy(
        "The model server's API key stored in the admin cannot be read. Ask the administrator."
    ),
}

# Codes whose stored text carries the model server's own words, worth showing as well.
WITH_DETAIL = frozenset(
    {
        "upstream_error",
        "upstream_http_error",
        "upstream_rate_limited",
        "upstream_stream_error",
        "upstream_unreachable",
        "upstream_proxy",
        "upstream_timeout",
    }
)


def stored_text(code: str) -> str:
    """What the database keeps for a code with no upstream detail: its English sentence."""
    with translation.override("en"):
        return str(SENTENCES[code])


def fallback(status: str) -> str:
    if status == "interrupted":
        return _("The server stopped before the answer was finished.")
    return _("Something went wrong while generating it.")


def error_text(code: str, stored: str, status: str = "error") -> str:
    """The sentence for an answer that ended with `code`, in the active language."""
    language = get_language() or "en"
    sentence = SENTENCES.get(code)
    if language.startswith("en") or sentence is None:
        return stored or fallback(status)
    if code in WITH_DETAIL and stored:
        return _("%(sentence)s Details: %(detail)s") % {"sentence": sentence, "detail": stored}
    return str(sentence)


def localize_message(message: dict[str, Any] | None) -> dict[str, Any] | None:
    """A protocol Message (Message.as_event) with `error` rendered for this reader."""
    if message is None or not (message.get("error_code") or message.get("error")):
        return message
    status = str(message.get("status") or "error")
    return {
        **message,
        "error": error_text(message.get("error_code") or "", message.get("error") or "", status),
    }
