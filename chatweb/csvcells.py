"""CSV cells safe to open in a spreadsheet (the usage and audit exports, the dashboard's)."""

from __future__ import annotations

# Cells a spreadsheet would run as a formula start with one of these (CSV injection): such
# a cell gets a leading apostrophe. A username, a model's or a target's name can be anything.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """`value` as a CSV cell's text ("" for None), with an apostrophe before a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
