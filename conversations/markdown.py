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
import threading
import xml.etree.ElementTree as etree
from functools import cache
from pathlib import Path
from typing import Any

import markdown as md
import nh3
from django.conf import settings
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from pymdownx import highlight  # type: ignore[import-untyped]

POLICY_PATH = Path(__file__).resolve().parent.parent / "static" / "render-policy.json"

# GitHub-flavoured, like marked's GFM mode in the browser, so the stored rendering matches
# the live one: fenced code with its language kept as a class (the label survives a
# reload), tables, ~~strikethrough~~ (a single ~ stays text in both), bare-URL links,
# task lists and lists nested by 2 or 3 spaces (see _ListIndent).
_LANGUAGE_RE = re.compile(r"[A-Za-z0-9_+#.-]{1,40}")


class _Highlight(highlight.Highlight):  # type: ignore[misc]
    """Keeps the language a fence names even when Pygments has no lexer for it (mermaid,
    solidity...): marked labels the block with it, and diagrams.js needs "mermaid"."""

    def get_lexer(self, src: str, language: str, inline: bool, stripnl: bool) -> Any:
        lexer, name = super().get_lexer(src, language, inline, stripnl)
        if language and name == "text" and _LANGUAGE_RE.fullmatch(language):
            name = language
        return lexer, name


class _HighlightExtension(highlight.HighlightExtension):  # type: ignore[misc]
    def get_pymdownx_highlighter(self) -> type[_Highlight]:
        return _Highlight


_EXTENSIONS: list[Any] = [
    "pymdownx.superfences",
    "tables",
    "pymdownx.tilde",
    "pymdownx.magiclink",
    # Math: $...$ and \(...\) inline, $$...$$ and \[...\] as blocks, kept as TeX source in
    # <span/div class="arithmatex"> for KaTeX in the browser (static/js/math.js).
    "pymdownx.arithmatex",
    "sane_lists",
    "nl2br",
]
_HIGHLIGHT_CONFIG = {"css_class": "codehilite", "guess_lang": False, "pygments_lang_class": True}
_EXTENSION_CONFIGS = {
    "pymdownx.tilde": {"subscript": False},
    "pymdownx.arithmatex": {
        "generic": True,
        "inline_syntax": ["dollar", "round"],
        "block_syntax": ["dollar", "square"],
    },
    # An align attribute survives the sanitizer; the default inline style would not.
    "tables": {"use_align_attribute": True},
}

_ITEM_RE = re.compile(r"^( *)([-*+]|\d{1,9}[.)])( {1,4}|$)")
_FENCE_RE = re.compile(r"^ *(`{3,}|~{3,})")
_TASK_RE = re.compile(r"^\[([ xX])\][ \t]+")
TASK_OPEN, TASK_DONE = "\u2610", "\u2611"  # the boxes both renderers draw


class _ListIndent(Preprocessor):  # type: ignore[misc]
    """Re-indents nested lists to the 4 spaces per level Python-Markdown needs.

    GFM nests an item under another when it starts at or after the other's content
    column (2 spaces after "- ", 3 after "1. "), and models write it that way. Lines
    inside an item keep their offset from its content column; fenced code is shifted
    with the line that opened it and otherwise left alone.
    """

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        stack: list[int] = []  # source content column of each open item
        fence: tuple[str, int] | None = None  # (closing marker, shift) inside a fence
        for line in lines:
            stripped = line.lstrip(" ")
            indent = len(line) - len(stripped)
            if fence is not None:
                out.append(_shift(line, fence[1]))
                if stripped.startswith(fence[0]) and not stripped.strip(fence[0][0]).strip():
                    fence = None
                continue
            if not stripped:
                out.append(line)
                continue
            while stack and indent < stack[-1]:
                stack.pop()
            # Four spaces beyond the enclosing content column make code, not an item.
            item = _ITEM_RE.match(line) if indent < (stack[-1] if stack else 0) + 4 else None
            if item:
                target = 4 * len(stack)
                stack.append(indent + len(item.group(2)) + max(len(item.group(3)), 1))
            elif stack:
                target = 4 * len(stack) + indent - stack[-1]
            else:
                target = indent
            shift = target - indent
            opened = _FENCE_RE.match(line[item.end() :] if item else line)
            if opened:
                fence = (opened.group(1), shift)
            out.append(_shift(line, shift))
        return out


def _shift(line: str, shift: int) -> str:
    if shift >= 0:
        return " " * shift + line
    keep = len(line) - len(line.lstrip(" "))
    return line[min(-shift, keep) :]


class _TaskList(Treeprocessor):  # type: ignore[misc]
    """`- [ ] a` / `- [x] b`: a box drawn as text, as render.js draws it (no <input>)."""

    def run(self, root: etree.Element) -> None:
        for li in root.iter("li"):
            host = li
            if not (li.text or "").strip() and len(li) and li[0].tag == "p":
                host = li[0]
            match = _TASK_RE.match(host.text or "")
            if match is None:
                continue
            done = match.group(1) != " "
            box = etree.Element("span", {"class": "task-box task-done" if done else "task-box"})
            box.text = TASK_DONE if done else TASK_OPEN
            box.tail = " " + (host.text or "")[match.end() :]
            host.text = ""
            host.insert(0, box)


_BLOCKS = {"p", "ul", "ol", "div", "pre", "blockquote", "table", "hr", "h1", "h2", "h3",
           "h4", "h5", "h6"}  # fmt: skip


class _LooseLists(Treeprocessor):  # type: ignore[misc]
    """A list with one paragraph item has all its items in paragraphs (CommonMark's
    loose lists, as marked renders them); Python-Markdown decides item by item."""

    def run(self, root: etree.Element) -> None:
        for element in root.iter():
            if element.tag not in {"ul", "ol"}:
                continue
            items = [li for li in element if li.tag == "li"]
            if not any(
                len(li) and li[0].tag == "p" and not (li.text or "").strip() for li in items
            ):
                continue
            for li in items:
                if not (li.text or "").strip() and (not len(li) or li[0].tag in _BLOCKS):
                    continue
                paragraph = etree.Element("p")
                paragraph.text, li.text = li.text, None
                while len(li) and li[0].tag not in _BLOCKS:
                    child = li[0]
                    li.remove(child)
                    paragraph.append(child)
                li.insert(0, paragraph)


class _Gfm(Extension):  # type: ignore[misc]
    def extendMarkdown(self, md_instance: md.Markdown) -> None:
        # Before fenced code (priority 30 and superfences' own) sees the text; before
        # inline patterns (20) turn "[ ]" into anything.
        md_instance.preprocessors.register(_ListIndent(md_instance), "list_indent", 40)
        md_instance.treeprocessors.register(_TaskList(md_instance), "task_list", 25)
        md_instance.treeprocessors.register(_LooseLists(md_instance), "loose_lists", 15)


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


@cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(**_cleaner_options())


def sanitize(html: str) -> str:
    """HTML -> the subset the shared allow-list permits."""
    return str(_cleaner().clean(html))


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


# One converter per thread, reset before each document: building one (loading every
# extension and its processors) cost more than converting a typical answer. reset()
# clears the document state, including the extensions' own (those that keep any register
# for it). A converter is not thread-safe, so each thread has its own.
_converters = threading.local()


def _converter() -> md.Markdown:
    converter: md.Markdown | None = getattr(_converters, "markdown", None)
    if converter is None:
        extensions = [_HighlightExtension(**_HIGHLIGHT_CONFIG), *_EXTENSIONS, _Gfm()]
        converter = md.Markdown(extensions=extensions, extension_configs=_EXTENSION_CONFIGS)
        _converters.markdown = converter
    return converter


def render(text: str) -> str:
    """Render model or user markdown to sanitized HTML."""
    html = _converter().reset().convert(text)
    return mark_deep_math(apply_image_policy(sanitize(html)))


# --- Math too deep to typeset (issue 17, finding 8) -------------------------------------
#
# A formula nested deeply enough crashes the browser's tab when KaTeX typesets it (200
# nested superscripts did), and KaTeX has no depth option. A formula deeper than the
# policy's math.maxDepth keeps its TeX source as text, with the class "math-source"
# instead of "arithmatex", so the browser never typesets it. static/js/math-limits.js
# counts the same way (texDepth) for the live rendering and checks KaTeX's parse tree too.

_MATH_OPENERS = {"left", "begin"}
_MATH_CLOSERS = {"right", "end"}
_MATH_DELIMITED = re.compile(r"(?:left|right|middle|[Bb]igg?[lrm]?)")
_COMMAND_RE = re.compile(r"[A-Za-z]*")
# nh3's output: an arithmatex element holds only escaped text.
_MATH_RE = re.compile(r'<(span|div) class="arithmatex">([^<]*)</\1>')


def math_depth(tex: str) -> int:
    """How deeply `tex` nests, read from its source: groups `{...}`, `\\left...\\right`,
    `\\begin...\\end`, and an optional argument `[...]` right after a command
    (`\\sqrt[...]`); a delimiter after `\\left` or `\\right` is neither."""
    depth = deepest = brackets = 0
    after_command = delimiter = False
    i = 0
    while i < len(tex):
        c = tex[i]
        i += 1
        if c.isspace():
            continue
        name = ""
        if c == "\\":
            name = _COMMAND_RE.match(tex, i).group()  # type: ignore[union-attr]
            i += len(name) or 1  # a command word, or an escaped character (\{ \\ ...)
        if delimiter:
            delimiter = after_command = False
            continue
        step = 0
        if name:
            step = 1 if name in _MATH_OPENERS else -1 if name in _MATH_CLOSERS else 0
            delimiter = bool(_MATH_DELIMITED.fullmatch(name))
        elif c == "{":
            step = 1
        elif c == "}":
            step = -1
        elif c == "[" and after_command:
            step, brackets = 1, brackets + 1
        elif c == "]" and brackets > 0:
            step, brackets = -1, brackets - 1
        depth = max(0, depth + step)
        deepest = max(deepest, depth)
        after_command = bool(name)
    return deepest


def math_too_deep(tex: str) -> bool:
    return math_depth(tex) > int(policy()["math"]["maxDepth"])


def _mark_math(match: re.Match[str]) -> str:
    if not math_too_deep(html_lib.unescape(match.group(2))):
        return match.group(0)
    tag = match.group(1)
    return f'<{tag} class="math-source">{match.group(2)}</{tag}>'


def mark_deep_math(html: str) -> str:
    """Sanitized HTML with each formula over the depth limit marked "math-source"."""
    if "arithmatex" not in html:
        return html
    return _MATH_RE.sub(_mark_math, html)
