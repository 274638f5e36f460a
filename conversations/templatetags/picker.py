"""{{ tokens|context_size }}: a context window as the model picker shows it ("128K", "1M")."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def context_size(tokens: int) -> str:
    """In K or M as models are announced: whole decimal units first (128000: 128K), then
    whole binary ones (131072: 128K), else rounded (2500000: 2.5M); under 1000, as is."""
    for decimal, binary, suffix in ((1_000_000, 1 << 20, "M"), (1000, 1 << 10, "K")):
        if tokens < decimal:
            continue
        for unit in (decimal, binary):
            if tokens % unit == 0:
                return f"{tokens // unit}{suffix}"
        return f"{round(tokens / decimal, 1):g}{suffix}"
    return str(tokens)
