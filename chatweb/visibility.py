"""Does a name show anything? The one rule for titles, display names and (later) project
names, by Unicode property rather than by a list of known offenders.

A character shows nothing on its own when it is
- a format character (Cf: soft hyphen U+00AD, zero-width space and joiners, bidi controls
  such as U+202E, the Mongolian vowel separator U+180E, tag characters, ...),
- a control character (Cc),
- a space or a line/paragraph separator (Zs, Zl, Zp: what str.strip() misses included),
- a combining mark (Mn, Me, Mc: U+034F COMBINING GRAPHEME JOINER, variation selectors);
  these show only on a base character, and a base character is itself visible,
- a filler drawn as blank although its category says letter or symbol: the Hangul fillers
  U+115F, U+1160, U+3164, U+FFA0 and the Braille blank U+2800,
- an unassigned code point that Unicode reserves as default-ignorable (browsers draw
  nothing for it): U+2065, U+FFF0-U+FFF8, U+E0000-U+E0FFF.

A name is blank when every character is one of these. Any other character (a letter, a
digit, punctuation, a symbol, an emoji, a private-use glyph) makes it visible.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp", "Mn", "Me", "Mc"})
FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _reserved_ignorable(code: int) -> bool:
    return code == 0x2065 or 0xFFF0 <= code <= 0xFFF8 or 0xE0000 <= code <= 0xE0FFF


def is_invisible(char: str) -> bool:
    """True if `char` (one character) shows nothing by itself."""
    if char in FILLERS:
        return True
    category = unicodedata.category(char)
    if category in INVISIBLE_CATEGORIES:
        return True
    return category == "Cn" and _reserved_ignorable(ord(char))


def is_blank(text: str) -> bool:
    """True if `text` has no visible character (the empty string included)."""
    return all(is_invisible(char) for char in text)


def validate_visible(value: str) -> None:
    """A Django validator: refuses a non-empty value with no visible character."""
    if value and is_blank(value):
        raise ValidationError(
            _("Use at least one visible character (letters, digits or symbols)."),
            code="invisible",
        )
