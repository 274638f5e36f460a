from __future__ import annotations

import datetime as dt

from django import template

from conversations.dates import date_group as group_of

register = template.Library()


@register.filter
def date_group(when: dt.datetime | None) -> str:
    """The conversation list's group for `when`, in the reader's zone ("" for none)."""
    return group_of(when) if when is not None else ""
