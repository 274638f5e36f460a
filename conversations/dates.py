"""The conversation list's date groups, in the reader's time zone (the active one:
accounts.timezones), computed on the server so the page and its next pages agree with
the zone the reader chose rather than the device's.

The same labels as static/js/sidebar.js's dateGroup(), which stays the fallback for an
item the page adds by itself.
"""

from __future__ import annotations

import datetime as dt

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from catalog import clock


def date_group(when: dt.datetime, now: dt.datetime | None = None) -> str:
    """ "Today", "Yesterday", "Previous 7 days", "Previous 30 days", then the month (and
    the year when it is not this one), by calendar days in the active zone."""
    today = timezone.localtime(now or clock.now()).date()
    day = timezone.localtime(when).date()
    days = (today - day).days
    if days <= 0:
        return _("Today")
    if days == 1:
        return _("Yesterday")
    if days <= 7:
        return _("Previous 7 days")
    if days <= 30:
        return _("Previous 30 days")
    if day.year == today.year:
        return formats.date_format(day, "F")
    return formats.date_format(day, "YEAR_MONTH_FORMAT")
