"""send_sms(schedule_at=…): a single text held until a chosen moment, then sent by the worker."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from dashboard.errors import SwitchboardError
from sms.models import Message, Status
from sms.services import credits
from sms.services.messages import send_due_messages, send_sms

from .conftest import MOBILE

pytestmark = pytest.mark.django_db


def test_a_scheduled_text_waits_for_its_time_then_goes_out(funded, contact, staff_actor):
    when = timezone.now() + dt.timedelta(hours=3)
    message = send_sms(actor=staff_actor, contact=contact, text="Hi", schedule_at=when).message
    assert (message.status, message.send_after) == (Status.SCHEDULED, when)
    assert credits.get_balance() == Decimal("9.96")  # reserved when it is queued
    assert list(message.events.values_list("status", "detail")) == [
        ("scheduled", f"due {when.astimezone(dt.UTC):%d %b %Y %H:%M} UTC")
    ]
    assert send_due_messages().claimed == 0

    Message.objects.filter(pk=message.pk).update(send_after=timezone.now())
    assert send_due_messages().sent == 1
    assert Message.objects.get(pk=message.pk).status == Status.SENT


def test_an_iso_time_without_an_offset_is_utc_and_one_with_an_offset_is_honoured(
    funded, staff_actor
):
    day = (timezone.now() + dt.timedelta(days=2)).date()
    naive = send_sms(actor=staff_actor, to=MOBILE, text="A", schedule_at=f"{day}T12:00:00")
    paris = send_sms(actor=staff_actor, to=MOBILE, text="B", schedule_at=f"{day}T12:00:00+01:00")
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    assert naive.message.send_after == noon
    assert paris.message.send_after == noon - dt.timedelta(hours=1)


def test_a_dry_run_says_when_it_would_go(funded, staff_actor):
    when = timezone.now() + dt.timedelta(days=1)
    plan = send_sms(actor=staff_actor, to=MOBILE, text="Hi", schedule_at=when, dry_run=True).plan
    assert plan.as_dict()["send_after"] == when.astimezone(dt.UTC).isoformat()
    assert not Message.objects.exists()


def test_marketing_scheduled_inside_quiet_hours_waits_until_they_end(
    funded, contact, staff_actor, settings
):
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    # 23:00 London time, two days ahead (London is UTC or UTC+1: either way inside 21-08).
    day = (timezone.now() + dt.timedelta(days=2)).date()
    when = dt.datetime.combine(day, dt.time(22), tzinfo=dt.UTC)
    message = send_sms(
        actor=staff_actor, contact=contact, text="Sale", kind="marketing", schedule_at=when
    ).message
    assert message.status == Status.SCHEDULED
    local = message.send_after.astimezone(dt.timezone(dt.timedelta(0)))
    assert message.send_after > when
    assert message.send_after.date() == day + dt.timedelta(days=1)
    assert local.hour in (7, 8)  # 08:00 London is 07:00 or 08:00 UTC


@pytest.mark.parametrize(
    ("schedule_at", "code"),
    [
        ("tomorrow at noon", "invalid_schedule"),
        ("9999-12-31T23:59:59-23:59", "schedule_too_far"),  # past the calendar's end in UTC
        ("0001-01-01T00:00:00+14:00", "schedule_in_past"),  # before its start
        ("2020-01-01T09:00:00", "schedule_in_past"),
        (lambda: timezone.now() - dt.timedelta(minutes=1), "schedule_in_past"),
        (lambda: timezone.now() + dt.timedelta(days=61), "schedule_too_far"),
    ],
)
def test_a_bad_schedule_is_refused_and_nothing_is_queued(funded, staff_actor, schedule_at, code):
    value = schedule_at() if callable(schedule_at) else schedule_at
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, to=MOBILE, text="Hi", schedule_at=value)
    assert caught.value.code == code
    assert caught.value.field == "schedule_at"
    assert not Message.objects.exists()
    assert credits.get_balance() == Decimal("10")


def test_a_text_past_the_limit_is_told_the_limit_and_the_last_moment_allowed(
    funded, staff_actor, settings
):
    settings.SMS_MAX_SCHEDULE_DAYS = 60
    settings.TIME_ZONE = "UTC"
    now = timezone.now()
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, to=MOBILE, text="Hi", schedule_at=now + dt.timedelta(days=61))
    latest = now + dt.timedelta(days=60)
    message = caught.value.message
    assert message.startswith("A text can be scheduled at most 60 days ahead, so no later than ")
    assert f"{latest:%d %b %Y} " in message and message.endswith("; choose an earlier time.")
