"""When a campaign starts and when each recipient's message is due.

Three modes: now; at a moment given as a wall-clock time in a chosen zone; or at a wall-clock
time in each recipient's own zone (from the phone number). Quiet hours hold a message until
the window ends in the recipient's zone. Wall-clock times use ``zoneinfo``: a time skipped by
a DST change lands just after the gap, a repeated one means its first occurrence.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.conf import settings

from dashboard.errors import SwitchboardError
from sms.campaigns.models import Campaign, ScheduleMode
from sms.services import horizon

# Every wall-clock moment happens first at UTC+14 and last at UTC-12.
EARLIEST_OFFSET = dt.timedelta(hours=14)
LATEST_OFFSET = dt.timedelta(hours=12)


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo((name or "").strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SwitchboardError(
            "unknown_time_zone",
            f"“{name}” is not a time zone; use a name such as Europe/London or America/New_York.",
            field="time_zone",
        ) from None


def parse_wall_clock(raw: object) -> dt.datetime:
    """A naive date-time from a form or API value ("2026-11-27T12:00" or a datetime)."""
    if isinstance(raw, dt.datetime):
        return raw.replace(tzinfo=None)
    try:
        return dt.datetime.fromisoformat(str(raw).strip()).replace(tzinfo=None)
    except ValueError:
        raise SwitchboardError(
            "invalid_schedule",
            f"“{raw}” is not a date and time; use ISO 8601 (YYYY-MM-DD HH:MM), e.g. "
            "2026-11-27T12:00.",
            field="send_at",
        ) from None


def _stated_moment(raw: object) -> dt.datetime | None:
    """The moment an API value names with its own offset ("…T12:00+05:00", "…Z"), else None.

    Forms give naive wall clocks (datetimes); only text can carry an offset, and dropping it
    would send hours early or late."""
    if isinstance(raw, dt.datetime):
        return None
    try:
        moment = dt.datetime.fromisoformat(str(raw).strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def parse_quiet_hours(raw: str | None) -> tuple[dt.time, dt.time] | None:
    """ "21:00-08:00" -> (21:00, 08:00); empty or a zero-length window means none."""
    if not raw or not raw.strip():
        return None
    try:
        start_s, end_s = raw.split("-")
        start, end = dt.time.fromisoformat(start_s.strip()), dt.time.fromisoformat(end_s.strip())
    except ValueError:
        raise SwitchboardError(
            "invalid_quiet_hours", "Give quiet hours as HH:MM-HH:MM, e.g. 21:00-08:00.",
            field="quiet_hours",
        ) from None  # fmt: skip
    return None if start == end else (start, end)


def default_quiet_hours() -> tuple[dt.time, dt.time] | None:
    return parse_quiet_hours(settings.SMS_QUIET_HOURS)


def scheduled_wall_clock(campaign: Campaign) -> dt.datetime | None:
    """The naive wall-clock time a campaign was scheduled for, as ``parse_wall_clock`` reads it
    (in its zone, or in each recipient's); None when it was sent now."""
    if campaign.schedule_mode == ScheduleMode.LOCAL and campaign.local_at:
        # Stored as if it were UTC: it belongs to no zone until a recipient's.
        return campaign.local_at.astimezone(dt.UTC).replace(tzinfo=None)
    if campaign.schedule_mode == ScheduleMode.AT and campaign.send_at:
        return campaign.send_at.astimezone(zone(campaign.time_zone)).replace(tzinfo=None)
    return None


def quiet_hours_text(campaign: Campaign) -> str:
    """A campaign's quiet hours as ``parse_quiet_hours`` reads them ("21:00-08:00"); "" if none."""
    if campaign.quiet_start is None or campaign.quiet_end is None:
        return ""
    return f"{campaign.quiet_start:%H:%M}-{campaign.quiet_end:%H:%M}"


@dataclass(frozen=True)
class Timing:
    mode: str
    time_zone: str
    start_at: dt.datetime  # when the audience is frozen and sending may begin
    send_at: dt.datetime | None = None  # AT: the moment
    local_at: dt.datetime | None = None  # LOCAL: the wall clock (naive)


def _out_of_range(wall: dt.datetime, now: dt.datetime) -> SwitchboardError:
    # 0001-01-01 or 9999-12-31 in some zone falls off the calendar once moved to UTC.
    return horizon.off_the_calendar(horizon.CAMPAIGN, moment=wall, now=now, field="send_at")


def _kept_zone(name: str) -> str:
    """The zone chosen, for a schedule that does not use it (now, or each recipient's own
    zone): kept, so that switching the campaign back to a time in one zone shows it again."""
    return zone(name).key if (name or "").strip() else "UTC"


def plan_timing(*, mode: str, when: object, time_zone: str, now: dt.datetime) -> Timing:
    """Check a schedule and work out when the campaign starts."""
    if mode == ScheduleMode.NOW:
        return Timing(mode, _kept_zone(time_zone), start_at=now)
    if mode not in ScheduleMode.values:
        raise SwitchboardError("invalid_schedule", "Send now, at a time, or at a local time.")
    if when in (None, ""):
        raise SwitchboardError("invalid_schedule", "Choose the date and time.", field="send_at")
    wall = parse_wall_clock(when)
    stated = _stated_moment(when)
    if mode == ScheduleMode.AT:
        tz = zone(time_zone)
        try:
            moment = (stated or wall.replace(tzinfo=tz)).astimezone(dt.UTC)
        except OverflowError:
            raise _out_of_range(wall, now) from None
        if moment <= now:
            typed = str(when).strip() if stated else f"{wall:%d %b %Y %H:%M} in {tz.key}"
            raise SwitchboardError(
                "schedule_in_past",
                f"{typed} has already passed; choose a later time.",
                field="send_at",
            )
        if moment > horizon.latest_schedule(horizon.CAMPAIGN, now):
            raise horizon.too_far_ahead(horizon.CAMPAIGN, now=now, field="send_at")
        return Timing(mode, tz.key, start_at=moment, send_at=moment)
    if stated is not None:
        raise SwitchboardError(
            "invalid_schedule",
            "A time in each recipient's zone is a wall-clock time: leave out the offset "
            f"(“{str(when).strip()[:40]}”), or schedule it at a moment in one zone.",
            field="send_at",
        )
    try:
        earliest = wall.replace(tzinfo=dt.UTC) - EARLIEST_OFFSET
        latest = wall.replace(tzinfo=dt.UTC) + LATEST_OFFSET
    except OverflowError:
        raise _out_of_range(wall, now) from None
    if latest <= now:
        raise SwitchboardError(
            "schedule_in_past",
            f"{wall:%d %b %Y %H:%M} has already passed in every time zone; choose a later time.",
            field="send_at",
        )
    # The limit applies to the first recipients due (where the wall clock comes first).
    if earliest > horizon.latest_schedule(horizon.CAMPAIGN, now):
        raise horizon.too_far_ahead(horizon.CAMPAIGN, now=now, field="send_at")
    return Timing(mode, _kept_zone(time_zone), start_at=max(earliest, now), local_at=wall)


def has_passed(*, mode: str, when: object, time_zone: str, now: dt.datetime) -> bool:
    """Whether a schedule ``plan_timing`` would refuse as in the past (a gated campaign
    approved after its time); False for now, or for what it refuses for another reason."""
    if mode not in (ScheduleMode.AT, ScheduleMode.LOCAL) or when in (None, ""):
        return False
    try:
        wall = parse_wall_clock(when)
        stated = _stated_moment(when)
        if mode == ScheduleMode.AT:
            return (stated or wall.replace(tzinfo=zone(time_zone))).astimezone(dt.UTC) <= now
        return stated is None and wall.replace(tzinfo=dt.UTC) + LATEST_OFFSET <= now
    except (SwitchboardError, OverflowError):
        return False


def start_text(campaign: Campaign, typed: dt.datetime | None = None) -> str:
    """When a scheduled campaign goes, for the message staff see on saving it: in its own zone,
    and saying so when the ``typed`` wall clock was skipped or repeated there by a DST change."""
    if campaign.schedule_mode == ScheduleMode.LOCAL and campaign.local_at:
        wall = scheduled_wall_clock(campaign)
        return f"Scheduled for {wall:%d %b %Y %H:%M} in each recipient's time zone."
    if campaign.schedule_mode != ScheduleMode.AT or campaign.send_at is None:
        return "Starting: the audience is frozen and credits reserved in a moment."
    tz = zone(campaign.time_zone)
    moment = campaign.send_at.astimezone(tz)
    text = f"Scheduled for {moment:%d %b %Y %H:%M %Z} ({tz.key})."
    if typed is None:
        return text
    typed = typed.replace(tzinfo=None)
    if moment.replace(tzinfo=None) != typed:
        return (
            f"{typed:%H:%M} does not exist in {tz.key} on {typed:%d %b %Y}: the clocks go "
            f"forward. {text}"
        )
    if typed.replace(tzinfo=tz, fold=0).utcoffset() != typed.replace(tzinfo=tz, fold=1).utcoffset():
        return (
            f"{typed:%H:%M} happens twice in {tz.key} on {typed:%d %b %Y} (the clocks go back): "
            f"it goes at the first. {text}"
        )
    return text


def local_moment(wall: dt.datetime, time_zone: str) -> dt.datetime:
    """``wall`` in ``time_zone`` as a UTC moment (unknown zones fall back to the site's)."""
    try:
        tz = zoneinfo.ZoneInfo(time_zone) if time_zone else zoneinfo.ZoneInfo(settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return wall.replace(tzinfo=tz).astimezone(dt.UTC)


def quiet_until(
    moment: dt.datetime, time_zone: str, quiet: tuple[dt.time, dt.time] | None
) -> dt.datetime | None:
    """When the quiet window around ``moment`` ends in ``time_zone``, or None outside it."""
    if quiet is None:
        return None
    start, end = quiet
    tz = zoneinfo.ZoneInfo(time_zone or settings.TIME_ZONE)
    local = moment.astimezone(tz)
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(end_day, end).replace(tzinfo=tz).astimezone(dt.UTC)


def due_at(
    *,
    mode: str,
    send_at: dt.datetime | None,
    local_at: dt.datetime | None,
    time_zone: str,
    quiet: tuple[dt.time, dt.time] | None,
    now: dt.datetime,
) -> dt.datetime | None:
    """When one recipient's message may go (None: right away)."""
    moment = now
    if mode == ScheduleMode.AT and send_at is not None:
        moment = max(send_at, now)
    elif mode == ScheduleMode.LOCAL and local_at is not None:
        moment = max(local_moment(local_at, time_zone), now)
    moment = quiet_until(moment, time_zone, quiet) or moment
    return moment if moment > now else None
