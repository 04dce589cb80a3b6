"""How far ahead a text (``SMS_MAX_SCHEDULE_DAYS``) or a campaign (``CAMPAIGN_MAX_SCHEDULE_DAYS``)
may be scheduled, with one wording for both, so staff and agents meet the same rule wherever
they schedule. Campaigns get the longer horizon: they are planned around seasons and dates."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from dashboard.errors import SwitchboardError

TEXT = "A text"
CAMPAIGN = "A campaign"


def _days(what: str) -> int:
    return (
        settings.CAMPAIGN_MAX_SCHEDULE_DAYS if what == CAMPAIGN else settings.SMS_MAX_SCHEDULE_DAYS
    )


def latest_schedule(what: str, now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(days=_days(what))


def too_far_ahead(what: str, *, now: dt.datetime, field: str) -> SwitchboardError:
    """``what`` (``TEXT``, ``CAMPAIGN``) was scheduled past its limit: say the limit and the
    last moment it allows, in the site's zone (the one staff type times in), named."""
    days = _days(what)
    latest = timezone.localtime(latest_schedule(what, now))
    return SwitchboardError(
        "schedule_too_far",
        f"{what} can be scheduled at most {days} days ahead, so no later than "
        f"{latest:%d %b %Y %H:%M %Z}; choose an earlier time.",
        field=field,
    )


def off_the_calendar(
    what: str, *, moment: dt.datetime, now: dt.datetime, field: str
) -> SwitchboardError:
    """A moment near 0001-01-01 or 9999-12-31 that leaves the calendar once moved to UTC: it is
    in the past or past the limit, and is refused as such rather than as unreadable."""
    if moment.year == dt.MAXYEAR:
        return too_far_ahead(what, now=now, field=field)
    return SwitchboardError(
        "schedule_in_past",
        f"{moment:%d %b} {moment.year:04d} has already passed; choose a later time.",
        field=field,
    )
