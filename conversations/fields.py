"""Text columns that clean what they store: the one place text is made storable.

PostgreSQL refuses U+0000 in text, and no database driver can encode a lone UTF-16
surrogate ("\\ud800", which JSON escapes can produce). Every text column of the domain
uses these fields, so a value is cleaned whichever way it is written: `save()` and
`create()` (pre_save, which also cleans the instance, so frames built from it match the
row) and `QuerySet.update()` (get_prep_value).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.db import models

# The longest conversation title (and a share link's copy of it).
TITLE_MAX = 120
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """`value` without NUL characters, each lone surrogate replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = _SURROGATE.sub("\ufffd", value)
    return value


if TYPE_CHECKING:  # django-stubs' fields are generic, Django's are not subscriptable
    _TextBase = models.TextField[str, str]
    _CharBase = models.CharField[str, str]
else:
    _TextBase = models.TextField
    _CharBase = models.CharField


class _Cleaned:
    attname: str

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)  # type: ignore[misc]
        return clean_text(value) if isinstance(value, str) else value

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)  # type: ignore[misc]
        if isinstance(value, str):
            cleaned = clean_text(value)
            if cleaned != value:
                setattr(model_instance, self.attname, cleaned)
            return cleaned
        return value

    def deconstruct(self) -> Any:
        # Migrations see Django's own field: the column is the same, only the values
        # written differ, so changing a column to a cleaned field needs no migration.
        name, _path, args, kwargs = super().deconstruct()  # type: ignore[misc]
        return name, f"django.db.models.{type(self).__name__}", args, kwargs


class TextField(_Cleaned, _TextBase):
    """A TextField whose stored value has no NUL and no lone surrogate."""


class CharField(_Cleaned, _CharBase):
    """A CharField whose stored value has no NUL and no lone surrogate."""
