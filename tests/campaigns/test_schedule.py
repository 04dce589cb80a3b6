"""Scheduling: now, at a moment in a zone, at a wall-clock time in each recipient's zone
(across DST changes), and quiet hours in the recipient's zone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from dashboard.errors import SwitchboardError
from sms.campaigns.models import Recipient
from sms.campaigns.services.campaigns import run_campaign, start_campaign
from sms.campaigns.services.schedule import due_at, plan_timing, quiet_until

from .conftest import SYSTEM

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_a_time_in_a_chosen_zone_is_that_moment():
    timing = plan_timing(mode="at", when="2026-11-27T12:00", time_zone="America/New_York", now=NOW)
    assert timing.start_at == dt.datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # EST, UTC-5


def test_a_time_in_summer_uses_summer_time(settings):
    settings.CAMPAIGN_MAX_SCHEDULE_DAYS = 365
    timing = plan_timing(mode="at", when="2027-07-01T12:00", time_zone="Europe/London", now=NOW)
    assert timing.start_at == dt.datetime(2027, 7, 1, 11, 0, tzinfo=UTC)  # BST, UTC+1


def test_it_refuses_a_schedule_in_the_past():
    with pytest.raises(SwitchboardError) as exc:
        plan_timing(mode="at", when="2026-11-20T09:00", time_zone="UTC", now=NOW)
    assert exc.value.code == "schedule_in_past"
    assert exc.value.field == "send_at"


@pytest.mark.parametrize(
    ("mode", "when"),
    [
        ("at", "2027-01-19T10:01"),  # 60 days and a minute after NOW
        ("at", "9999-12-31T23:59"),  # past the calendar's end once moved to UTC
        ("at", "2027-01-19T10:01:00+00:00"),
        ("local", "2027-01-20T00:01"),  # UTC+14 reaches it 60 days and a minute after NOW
        ("local", "9999-12-31T23:59"),
    ],
)
def test_it_refuses_a_schedule_past_the_campaign_schedule_limit(settings, mode, when):
    settings.CAMPAIGN_MAX_SCHEDULE_DAYS = 60
    settings.TIME_ZONE = "UTC"
    with pytest.raises(SwitchboardError) as exc:
        plan_timing(mode=mode, when=when, time_zone="UTC", now=NOW)
    assert exc.value.code == "schedule_too_far"
    assert exc.value.field == "send_at"
    assert exc.value.message == (
        "A campaign can be scheduled at most 60 days ahead, so no later than "
        "19 Jan 2027 10:00 UTC; choose an earlier time."
    )


def test_the_last_moment_the_limit_allows_is_accepted(settings):
    settings.CAMPAIGN_MAX_SCHEDULE_DAYS = 60
    timing = plan_timing(mode="at", when="2027-01-19T10:00", time_zone="UTC", now=NOW)
    assert timing.start_at == NOW + dt.timedelta(days=60)
    timing = plan_timing(mode="local", when="2027-01-20T00:00", time_zone="UTC", now=NOW)
    assert timing.start_at == NOW + dt.timedelta(days=60)


def test_campaigns_are_planned_further_ahead_than_single_texts(settings):
    # A season's campaign is set up months ahead; a single text has the shorter horizon.
    assert settings.CAMPAIGN_MAX_SCHEDULE_DAYS > settings.SMS_MAX_SCHEDULE_DAYS
    later = NOW + dt.timedelta(days=settings.SMS_MAX_SCHEDULE_DAYS + 30)
    timing = plan_timing(mode="at", when=later.isoformat(), time_zone="UTC", now=NOW)
    assert timing.start_at == later


def test_a_date_before_the_calendar_begins_has_already_passed():
    with pytest.raises(SwitchboardError) as exc:
        plan_timing(mode="at", when="0001-01-01T00:00", time_zone="Asia/Tokyo", now=NOW)
    assert exc.value.code == "schedule_in_past"
    assert "has already passed" in exc.value.message


def test_it_refuses_a_time_zone_that_does_not_exist():
    with pytest.raises(SwitchboardError) as exc:
        plan_timing(mode="at", when="2026-11-27T12:00", time_zone="Europe/Atlantis", now=NOW)
    assert exc.value.code == "unknown_time_zone"
    assert "Europe/Atlantis" in exc.value.message


def test_a_local_time_starts_when_the_first_zone_reaches_it():
    timing = plan_timing(mode="local", when="2026-11-27T12:00", time_zone="", now=NOW)
    assert timing.start_at == dt.datetime(2026, 11, 26, 22, 0, tzinfo=UTC)  # noon at UTC+14


def test_a_local_time_keeps_the_zone_chosen_for_a_switch_back():
    timing = plan_timing(mode="local", when="2026-11-27T12:00", time_zone="Europe/Paris", now=NOW)
    assert timing.time_zone == "Europe/Paris"
    with pytest.raises(SwitchboardError) as exc:
        plan_timing(mode="local", when="2026-11-27T12:00", time_zone="Europe/Atlantis", now=NOW)
    assert exc.value.code == "unknown_time_zone"


def test_a_local_time_already_past_everywhere_is_refused():
    with pytest.raises(SwitchboardError) as exc:
        plan_timing(mode="local", when="2026-11-19T12:00", time_zone="", now=NOW)
    assert exc.value.code == "schedule_in_past"


def local_due(wall: str, zone: str, now=NOW, quiet=None):
    return due_at(mode="local", send_at=None, local_at=dt.datetime.fromisoformat(wall),
                  time_zone=zone, quiet=quiet, now=now)  # fmt: skip


def test_noon_local_is_a_different_moment_in_each_zone():
    assert local_due("2026-11-27T12:00", "Europe/London") == dt.datetime(
        2026, 11, 27, 12, 0, tzinfo=UTC
    )
    assert local_due("2026-11-27T12:00", "Europe/Paris") == dt.datetime(
        2026, 11, 27, 11, 0, tzinfo=UTC
    )
    assert local_due("2026-11-27T12:00", "America/Los_Angeles") == dt.datetime(
        2026, 11, 27, 20, 0, tzinfo=UTC
    )


def test_local_time_follows_each_zones_own_dst_change():
    # 30 March 2026: Europe is on summer time (changed 29 March), New York since 8 March.
    assert local_due(
        "2026-03-30T09:00", "Europe/London", now=NOW.replace(year=2025)
    ) == dt.datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert local_due(
        "2026-03-30T09:00", "America/New_York", now=NOW.replace(year=2025)
    ) == dt.datetime(2026, 3, 30, 13, 0, tzinfo=UTC)
    # A week earlier London is still on GMT while New York is already on EDT.
    assert local_due(
        "2026-03-23T09:00", "Europe/London", now=NOW.replace(year=2025)
    ) == dt.datetime(2026, 3, 23, 9, 0, tzinfo=UTC)


def test_a_time_skipped_by_the_spring_change_goes_just_after_it():
    # 01:30 does not exist in London on 29 March 2026 (01:00 GMT -> 02:00 BST).
    due = local_due("2026-03-29T01:30", "Europe/London", now=NOW.replace(year=2025))
    assert due == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 BST
    assert due.astimezone(dt.timezone(dt.timedelta(hours=1))).hour == 2


def test_a_time_repeated_by_the_autumn_change_goes_the_first_time():
    # 01:30 happens twice in London on 25 October 2026; the first is BST (00:30 UTC).
    due = local_due("2026-10-25T01:30", "Europe/London", now=NOW.replace(year=2025))
    assert due == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_a_zone_that_has_passed_the_time_sends_at_once():
    late = dt.datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    assert local_due("2026-11-27T12:00", "Europe/London", now=late) is None


QUIET = (dt.time(21, 0), dt.time(8, 0))


def test_quiet_hours_hold_a_message_until_morning_in_the_recipients_zone():
    evening = dt.datetime(2026, 11, 27, 22, 0, tzinfo=UTC)  # 22:00 London, 23:00 Paris
    assert quiet_until(evening, "Europe/London", QUIET) == dt.datetime(
        2026, 11, 28, 8, 0, tzinfo=UTC
    )
    assert quiet_until(evening, "Europe/Paris", QUIET) == dt.datetime(
        2026, 11, 28, 7, 0, tzinfo=UTC
    )
    # 17:00 in New York: not quiet there.
    assert quiet_until(evening, "America/New_York", QUIET) is None


def test_quiet_hours_after_midnight_end_the_same_morning():
    early = dt.datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert quiet_until(early, "Europe/London", QUIET) == dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_quiet_hours_end_at_local_eight_across_the_autumn_change():
    # 24 October 2026 23:00 BST; the clocks go back that night, morning is 08:00 GMT.
    night = dt.datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert quiet_until(night, "Europe/London", QUIET) == dt.datetime(2026, 10, 25, 8, 0, tzinfo=UTC)


def test_a_scheduled_local_time_lands_in_quiet_hours_and_waits():
    # 22:00 local is inside 21:00-08:00: held until 08:00 the next day.
    due = local_due("2026-11-27T22:00", "Europe/London", quiet=QUIET)
    assert due == dt.datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_each_recipient_is_due_at_noon_in_their_own_zone(audience):
    wall = (timezone.now() + dt.timedelta(days=3)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    outcome = start_campaign(
        actor=SYSTEM, text="Noon deals", audience_kind="tag", audience_id=audience["tag"].pk,
        schedule_mode="local", send_at=wall.replace(tzinfo=None).isoformat(), quiet_hours="",
    )  # fmt: skip
    campaign = outcome.campaign
    campaign.start_at = timezone.now()  # the heartbeat is due now (a day and a half early)
    campaign.save(update_fields=["start_at"])

    run_campaign(campaign_id=campaign.pk)

    due = {r.phone: r.send_after for r in Recipient.objects.filter(campaign=campaign)}
    naive = wall.replace(tzinfo=None)
    assert due["+447400100001"] == naive.replace(tzinfo=dt.UTC) - dt.timedelta(hours=0)
    assert due["+33612345678"] == naive.replace(tzinfo=dt.UTC) - dt.timedelta(hours=1)
    assert due["+12025550123"] == naive.replace(tzinfo=dt.UTC) + dt.timedelta(hours=5)
