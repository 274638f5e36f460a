"""Markdown -> safe HTML for finished messages (Python-Markdown, Pygments, nh3).

The result is stored on the message and put in the page as is, so everything the
model wrote goes through nh3's allow-list: scripts, event handlers and javascript:
URLs never survive.
"""

from __future__ import annotations

import markdown as md
import nh3

_EXTENSIONS = ["fenced_code", "codehilite", "tables", "sane_lists", "nl2br"]
_EXTENSION_CONFIGS = {
    "codehilite": {"css_class": "codehilite", "guess_lang": False, "wrapcode": True},
    # An align attribute survives the sanitizer; the default inline style would not.
    "tables": {"use_align_attribute": True},
}

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p",
    "pre", "s", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "div": {"class"},
    "span": {"class"},
    "pre": {"class"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}


def render(text: str) -> str:
    """Render model or user markdown to sanitized HTML."""
    html = md.markdown(text, extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIGS)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
