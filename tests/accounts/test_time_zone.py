"""Each user's time zone (accounts.timezones): reported once by the browser, changed on
the settings page, refused when it is not a zoneinfo name, and shown in every time."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import UserSettings

pytestmark = pytest.mark.django_db

REPORT = "/settings/time-zone/"


def zone_of(user) -> str:
    return UserSettings.objects.get(user=user).time_zone


def test_the_first_report_from_the_browser_is_saved(alice, alice_client):
    response = alice_client.post(REPORT, {"time_zone": "Asia/Shanghai"})
    assert response.status_code == 200
    assert response.json() == {"saved": True}
    assert zone_of(alice) == "Asia/Shanghai"


def test_an_older_name_a_browser_reports_is_saved_under_the_current_one(alice, alice_client):
    # Chromium says "Asia/Calcutta" for a browser in India (ICU keeps the older name).
    alice_client.post(REPORT, {"time_zone": "Asia/Calcutta"})
    assert zone_of(alice) == "Asia/Kolkata"
    html = alice_client.get("/settings/").text
    assert '<option value="Asia/Kolkata" selected>Kolkata (UTC+05:30)</option>' in html


def test_every_older_name_is_a_link_to_its_current_one():
    from accounts import timezones

    moments = [dt.datetime(2026, month, 1, 12, tzinfo=dt.UTC) for month in (1, 7)]
    for older, current in timezones.CURRENT_NAMES.items():
        assert timezones.is_valid(older), older
        assert current in timezones.listed(), current
        same = [
            m.astimezone(zoneinfo.ZoneInfo(older)).utcoffset()
            == m.astimezone(zoneinfo.ZoneInfo(current)).utcoffset()
            for m in moments
        ]
        assert all(same), older


def test_a_later_report_never_overwrites_the_zone(alice, alice_client):
    alice_client.post(REPORT, {"time_zone": "Asia/Shanghai"})
    # The same user on a laptop abroad, or another device: the first one stays.
    response = alice_client.post(REPORT, {"time_zone": "America/New_York"})
    assert response.json() == {"saved": False}
    assert zone_of(alice) == "Asia/Shanghai"


def test_a_report_never_overwrites_the_zone_chosen_in_settings(alice, alice_client):
    UserSettings.objects.create(user=alice, time_zone="Europe/Paris", language="en")
    alice_client.post(REPORT, {"time_zone": "Asia/Tokyo"})
    settings_row = UserSettings.objects.get(user=alice)
    assert (settings_row.time_zone, settings_row.language) == ("Europe/Paris", "en")


@pytest.mark.parametrize(
    "bad",
    ["", "Mars/Olympus_Mons", "asia/shanghai", "../../etc/passwd", "Europe/" + "x" * 80, "UTC\n"],
)
def test_a_bad_zone_is_refused_and_nothing_is_written(alice, alice_client, bad):
    response = alice_client.post(REPORT, {"time_zone": bad})
    assert response.status_code == 400
    assert not UserSettings.objects.filter(user=alice).exists()


def test_a_bad_zone_does_not_touch_an_existing_row(alice, alice_client):
    UserSettings.objects.create(user=alice, display_name="Alice")
    alice_client.post(REPORT, {"time_zone": "Nowhere/Land"})
    assert zone_of(alice) == ""


def test_the_report_needs_a_signed_in_post_with_csrf(alice, client):
    assert client.post(REPORT, {"time_zone": "Asia/Tokyo"}).status_code == 302  # sign-in
    client.force_login(alice)
    assert client.get(REPORT).status_code == 405
    strict = type(client)(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(REPORT, {"time_zone": "Asia/Tokyo"}).status_code == 403
    assert not UserSettings.objects.filter(user=alice).exists()


def test_pages_ask_the_browser_only_while_the_user_has_no_zone(alice, alice_client):
    assert 'data-time-zone-url="/settings/time-zone/"' in alice_client.get("/settings/").text
    alice_client.post(REPORT, {"time_zone": "Asia/Tokyo"})
    assert "data-time-zone-url" not in alice_client.get("/settings/").text


def test_the_settings_page_offers_every_zone_grouped_by_region(alice_client):
    from catalog import clock

    with clock.frozen(dt.datetime(2026, 7, 1, tzinfo=dt.UTC)):
        html = alice_client.get("/settings/").text
    assert 'id="id_time_zone"' in html
    assert '<optgroup label="Asia">' in html
    assert '<option value="Asia/Shanghai">Shanghai (UTC+08:00)</option>' in html
    # Offsets as they are on that day (summer time in New York, winter in Santiago).
    assert '<option value="America/New_York">New York (UTC-04:00)</option>' in html
    assert '<option value="America/Santiago">Santiago (UTC-04:00)</option>' in html
    assert '<option value="Pacific/Honolulu">Honolulu (UTC-10:00)</option>' in html
    assert '<option value="America/Argentina/Buenos_Aires">' in html
    assert '<option value="UTC">UTC</option>' in html


def test_the_settings_page_changes_the_zone(alice, alice_client):
    alice_client.post(REPORT, {"time_zone": "Asia/Tokyo"})
    response = alice_client.post(
        "/settings/", {"theme": "system", "send_key": "enter", "time_zone": "Europe/Lisbon"}
    )
    assert response.status_code == 302
    assert zone_of(alice) == "Europe/Lisbon"
    # Empty: back to the server's zone, and the browser may report again.
    alice_client.post("/settings/", {"theme": "system", "send_key": "enter", "time_zone": ""})
    assert zone_of(alice) == ""


def test_the_settings_page_refuses_a_zone_not_in_the_list(alice, alice_client):
    response = alice_client.post(
        "/settings/", {"theme": "dark", "send_key": "enter", "time_zone": "Mars/Olympus_Mons"}
    )
    assert response.status_code == 400
    assert not UserSettings.objects.filter(user=alice).exists()


def test_the_token_list_shows_times_in_the_users_zone(alice, alice_client):
    from accounts import api_tokens

    UserSettings.objects.create(user=alice, time_zone="Asia/Kolkata")  # UTC+05:30
    made = api_tokens.create(user=alice, name="laptop script", scopes=["chat"], days=30)
    at = made.token.created_at
    with timezone.override("Asia/Kolkata"):
        in_kolkata = date_format(timezone.localtime(at), "DATETIME_FORMAT")
    in_utc = date_format(timezone.localtime(at, dt.UTC), "DATETIME_FORMAT")
    html = alice_client.get("/settings/").text
    assert in_kolkata in html
    assert in_utc not in html


def test_the_zone_is_not_left_active_for_the_next_request(alice, bob, alice_client, client):
    UserSettings.objects.create(user=alice, time_zone="Asia/Tokyo")
    alice_client.get("/settings/")
    client.force_login(bob)
    client.get("/settings/")
    assert timezone.get_current_timezone_name() == "UTC"
