"""Markdown -> safe HTML for finished messages (Python-Markdown, Pygments, nh3).

The result is stored on the message and put in the page as is, so everything the
model wrote goes through nh3 and the allow-list in static/render-policy.json, the same
file the browser's live renderer (static/js/render.js) applies with DOMPurify: what one
renderer lets through, the other does too. Scripts, forms, event handlers, style
attributes, classes the renderer does not write itself and javascript: URLs never
survive.

Images in model output are not loaded unless ALLOW_REMOTE_IMAGES is on: a prompt-injected
model could otherwise leak the conversation through an image URL. Each one becomes a
link to its address instead (render.js does the same).
"""

from __future__ import annotations

import html as html_lib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import markdown as md
import nh3
from django.conf import settings

POLICY_PATH = Path(__file__).resolve().parent.parent / "static" / "render-policy.json"

_EXTENSIONS = ["fenced_code", "codehilite", "tables", "sane_lists", "nl2br"]
_EXTENSION_CONFIGS = {
    "codehilite": {"css_class": "codehilite", "guess_lang": False, "wrapcode": True},
    # An align attribute survives the sanitizer; the default inline style would not.
    "tables": {"use_align_attribute": True},
}

# nh3 writes every kept attribute as name="value" with `"` escaped, so after sanitizing,
# an image tag has exactly this shape.
_IMG_RE = re.compile(r'<img((?:\s+[a-z-]+="[^"]*")*)\s*/?>')
_ATTR_RE = re.compile(r'([a-z-]+)="([^"]*)"')


@cache
def policy() -> dict[str, Any]:
    """The shared allow-list (static/render-policy.json)."""
    data: dict[str, Any] = json.loads(POLICY_PATH.read_text(encoding="utf-8"))
    return data


@cache
def _cleaner_options() -> dict[str, Any]:
    p = policy()
    attributes: dict[str, set[str]] = {tag: set(names) for tag, names in p["attributes"].items()}
    for tag in {*p["classes"], *p["classPrefixes"]}:
        attributes.setdefault(tag, set()).add("class")
    return {
        "tags": set(p["tags"]),
        "clean_content_tags": set(p["dropWithContent"]),
        "attributes": attributes,
        "attribute_filter": _filter_attribute,
        "url_schemes": set(p["urlSchemes"]),
        "link_rel": p["linkRel"],
    }


def allowed_class(tag: str, name: str) -> bool:
    """Whether `name` is one of the classes the renderers themselves write on `tag`."""
    p = policy()
    if name in p["classes"].get(tag, ()):
        return True
    for prefix in p["classPrefixes"].get(tag, ()):
        if name.startswith(prefix) and re.match(p["classSuffixPattern"], name[len(prefix) :]):
            return True
    return False


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute != "class":
        return value
    kept = [name for name in value.split() if allowed_class(tag, name)]
    return " ".join(kept) or None


def sanitize(html: str) -> str:
    """HTML -> the subset the shared allow-list permits."""
    return str(nh3.clean(html, **_cleaner_options()))


def _image_replacement(match: re.Match[str]) -> str:
    attrs: dict[str, str] = dict(_ATTR_RE.findall(match.group(1)))
    alt = html_lib.escape(html_lib.unescape(attrs.get("alt", "")), quote=False)
    src = attrs.get("src")
    if not src:
        return alt
    if settings.ALLOW_REMOTE_IMAGES:
        return match.group(0)
    label = alt or html_lib.escape(html_lib.unescape(src), quote=False)
    rel = str(policy()["linkRel"])
    return f'<a href="{src}" class="remote-image" rel="{rel}">{label}</a>'


def apply_image_policy(html: str) -> str:
    """Sanitized HTML with its images as links, unless ALLOW_REMOTE_IMAGES is on.

    Applied when the HTML is rendered and again when a page shows it, so turning the
    setting off also covers answers stored before.
    """
    if "<img" not in html:
        return html
    return _IMG_RE.sub(_image_replacement, html)


def render(text: str) -> str:
    """Render model or user markdown to sanitized HTML."""
    html = md.markdown(text, extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIGS)
    return apply_image_policy(sanitize(html))
