"""{% icon "name" %}: the inline SVG of templates/_icon.html, rendered once per name.

An `{% include "_icon.html" %}` per message and per sidebar row was a large share of a
long conversation's page time; the markup is the same, so it is rendered once and reused.
"""

from __future__ import annotations

import functools

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@functools.cache
def _svg(name: str) -> SafeString:
    return mark_safe(render_to_string("_icon.html", {"name": name}))  # our own template


@register.simple_tag
def icon(name: str) -> SafeString:
    return _svg(name)
