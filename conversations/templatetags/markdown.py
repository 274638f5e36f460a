"""{{ m.html|message_html }}: a message's stored, sanitized HTML as the page shows it."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from conversations import markdown

register = template.Library()


@register.filter
def message_html(html: str) -> SafeString:
    """The stored HTML (sanitized when it was rendered) under today's image setting."""
    return mark_safe(markdown.apply_image_policy(html))
