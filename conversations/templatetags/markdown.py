"""{{ m.html|message_html }}: a message's stored, sanitized HTML as the page shows it;
{% answer_error m %}: a failed answer's sentence in the reader's language."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

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
