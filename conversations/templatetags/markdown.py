"""{{ m.html|message_html }}: a message's stored, sanitized HTML as the page shows it;
{% answer_error m %}: a failed answer's sentence in the reader's language;
{{ m|context_cut_notes }}: what the page says of documents cut to fit the window."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from conversations import errors, markdown

register = template.Library()


@register.filter
def message_html(html: str) -> SafeString:
    """The stored HTML (sanitized when it was rendered) under today's image setting."""
    return mark_safe(markdown.apply_image_policy(html))


@register.simple_tag
def answer_error(message: Any) -> str:
    """A failed answer's sentence in the reader's language (conversations.errors)."""
    return errors.error_text(message.error_code, message.error, message.status)


@register.filter
def context_cut_notes(message: Any) -> list[str]:
    """A sentence per document of the question that did not fit the model's window whole
    (Message.context_cut), in the reader's language; chat.js says the same live."""
    sentence = gettext("Only %(percent)s%% of %(name)s fit in the model\u2019s context window.")
    return [sentence % {"percent": c["percent"], "name": c["name"]} for c in message.context_cut]
