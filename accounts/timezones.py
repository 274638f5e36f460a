"""Which time zone a person reads times in: their own setting, else the server's TIME_ZONE.

The setting starts empty; the first page a signed-in user opens reports the browser's zone
(static/js/timezone.js posts Intl's resolvedOptions().timeZone to `report`), saved once
and never overwritten from the browser again; the settings page changes it. Pages:
UserTimeZoneMiddleware activates it for the request. The socket has no middleware, so the
consumer reads the setting at connect (`zone_for_setting`) and writes the frames it
localises under `timezone.override`. The API activates its token owner's zone when it
authenticates (api.auth).

Only what is shown moves: quota windows stay calendar periods in TIME_ZONE
(catalog.usage), and a refusal says when that window ends, in the reader's zone.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections import defaultdict
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin
from django.views.decorators.http import require_POST

from accounts.models import UserSettings, settings_for
from catalog import clock

MAX_NAME = 64

# Chromium (ICU, after CLDR) reports some zones by their older IANA names, which zoneinfo
# keeps as links: the browser's report is saved under the current name, so the settings
# page's list (current names only) shows it selected.
CURRENT_NAMES = {
    "Africa/Asmera": "Africa/Asmara",
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "America/Catamarca": "America/Argentina/Catamarca",
    "America/Coral_Harbour": "America/Atikokan",
    "America/Cordoba": "America/Argentina/Cordoba",
    "America/Godthab": "America/Nuuk",
    "America/Indianapolis": "America/Indiana/Indianapolis",
    "America/Jujuy": "America/Argentina/Jujuy",
    "America/Louisville": "America/Kentucky/Louisville",
    "America/Mendoza": "America/Argentina/Mendoza",
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon",
    "Asia/Saigon": "Asia/Ho_Chi_Minh",
    "Atlantic/Faeroe": "Atlantic/Faroe",
    "Europe/Kiev": "Europe/Kyiv",
    "Pacific/Enderbury": "Pacific/Kanton",
    "Pacific/Ponape": "Pacific/Pohnpei",
    "Pacific/Truk": "Pacific/Chuuk",
}


@functools.cache
def available() -> frozenset[str]:
    """The IANA names this server knows (zoneinfo), without the legacy aliases such as
    "US/Pacific" or "Etc/GMT+8" that nobody picks on purpose (they stay valid if saved)."""
    return frozenset(zoneinfo.available_timezones())


def is_valid(name: object) -> bool:
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME and name in available()


def current_name(name: str) -> str:
    """The current IANA name of a zone a browser may report by an older one."""
    current = CURRENT_NAMES.get(name, name)
    return current if current in available() else name


def zone_for_setting(name: str) -> zoneinfo.ZoneInfo | None:
    """The ZoneInfo for a stored name; None for empty or unknown (the server's zone then)."""
    if not is_valid(name):
        return None
    return zoneinfo.ZoneInfo(name)


def user_zone(user: Any) -> zoneinfo.ZoneInfo | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return zone_for_setting(settings_for(user).time_zone)


def activate_for(user: Any) -> None:
    """The user's zone for the rest of this request (or the server's, for none)."""
    zone = user_zone(user)
    if zone is None:
        timezone.deactivate()
    else:
        timezone.activate(zone)


# Regions of legacy aliases ("US/Pacific", "Etc/GMT+8"): valid, but left out of the list.
LEGACY_REGIONS = frozenset({"Etc", "SystemV", "US", "Canada", "Brazil", "Mexico", "Chile"})
LISTED_SINGLE = frozenset({"UTC"})


@functools.cache
def _grouped() -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    regions: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in sorted(available()):
        region, _slash, place = name.partition("/")
        if place and region not in LEGACY_REGIONS:
            regions[region].append((name, place.replace("_", " ")))
    return tuple((region, tuple(names)) for region, names in sorted(regions.items()))


def listed() -> frozenset[str]:
    """The names the settings page offers."""
    return frozenset(LISTED_SINGLE & available()) | {
        name for _region, names in _grouped() for name, _label in names
    }


def choices(at: dt.datetime | None = None) -> list[tuple[str, Any]]:
    """The settings page's select: UTC, then "Region/City" names grouped by region
    (optgroups), each labelled by its place and its offset from UTC `at` (now), so a
    closed select still says which New York it is ("New York (UTC-05:00)") and typing a
    city's first letters finds it."""
    moment = at or clock.now()
    single = [(name, name) for name in sorted(LISTED_SINGLE & available())]
    return [
        *single,
        *(
            (region, [(name, f"{place} ({offset(name, moment)})") for name, place in names])
            for region, names in _grouped()
        ),
    ]


def offset(name: str, at: dt.datetime) -> str:
    """ "UTC+05:30", "UTC-10:00", "UTC+00:00": the zone's offset at that moment."""
    delta = at.astimezone(zoneinfo.ZoneInfo(name)).utcoffset() or dt.timedelta()
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


class UserTimeZoneMiddleware(MiddlewareMixin):
    """A signed-in user's zone for every page (sync and async); the server's otherwise.
    Always set, never left over from the previous request on this thread."""

    def process_request(self, request: HttpRequest) -> None:
        activate_for(getattr(request, "user", None))


@login_required
@require_POST
def report(request: HttpRequest) -> HttpResponse:
    """The browser's zone, reported once: saved only while the user has none, so a laptop
    travelling, or a second device elsewhere, never overwrites what was chosen."""
    name = request.POST.get("time_zone", "")
    if not is_valid(name):
        return JsonResponse({"saved": False}, status=400)
    name = current_name(name)
    current = settings_for(request.user)
    if current.time_zone:
        return JsonResponse({"saved": False})
    # One conditional write: two tabs reporting at once save the zone once.
    if current.pk is None:
        saved, _created = UserSettings.objects.get_or_create(
            user_id=request.user.pk, defaults={"time_zone": name}
        )
        written = _created or (
            UserSettings.objects.filter(pk=saved.pk, time_zone="").update(time_zone=name) == 1
        )
    else:
        written = (
            UserSettings.objects.filter(pk=current.pk, time_zone="").update(time_zone=name) == 1
        )
    if written:
        current.time_zone = name
    return JsonResponse({"saved": written})
