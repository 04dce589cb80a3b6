"""The heartbeat of a running campaign: what it asks the database each tick, and when it
sleeps. A tick must cost the same at the last message as at the first."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sms.campaigns.services.campaigns import IDLE_TICK, run_campaign, start_campaign
from sms.models import Message
from sms.services.messages import send_due_messages

from .conftest import SYSTEM

pytestmark = pytest.mark.django_db

INDEX = "sms_message_campaign_status"


def start(audience, **kwargs):
    return start_campaign(actor=SYSTEM, text="Hi {first_name}", audience_kind="tag",
                          audience_id=audience["tag"].pk, **kwargs).campaign  # fmt: skip


def plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A test table is tiny, so the planner would read it whole; show what it does
            # when reading it whole is not an option, as on a table of real size.
            with transaction.atomic():
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(f"EXPLAIN {sql}", params)
                return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def test_each_look_at_the_campaigns_messages_is_one_probe_of_the_campaign_index(audience):
    campaign = start(audience)
    run_campaign(campaign_id=campaign.pk)  # start, create every message
    send_due_messages(limit=2)  # half sent: what a tick mid-campaign sees

    with CaptureQueriesContext(connection) as queries:
        run_campaign(campaign_id=campaign.pk)

    table = Message._meta.db_table
    looks = [
        q["sql"] for q in queries if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]
    ]
    assert looks, "the heartbeat looked at no message"
    for sql in looks:  # the logged SQL carries its values inline
        assert INDEX in plan(sql, None), sql


def test_a_finished_campaign_is_noticed_with_bounded_probes(audience):
    campaign = start(audience)
    for _ in range(3):
        run_campaign(campaign_id=campaign.pk)
        send_due_messages()
    campaign.refresh_from_db()
    assert campaign.status == "completed"
    assert not Message.objects.filter(campaign_id=campaign.pk, status__in=["pending", "sending"])


def test_a_campaign_waiting_for_quiet_hours_to_end_sleeps_until_then(audience, settings):
    now = timezone.now()
    london = zoneinfo.ZoneInfo("Europe/London")
    window = (f"{(now - dt.timedelta(hours=1)).astimezone(london):%H:%M}-"
              f"{(now + dt.timedelta(minutes=30)).astimezone(london):%H:%M}")  # fmt: skip
    campaign = start(audience, quiet_hours=window)
    for _ in range(3):
        run_campaign(campaign_id=campaign.pk)
        send_due_messages()

    campaign.refresh_from_db()
    assert campaign.status == "running"  # the British recipients wait for the morning
    # Not the next heartbeat in two seconds, but a minute's sleep (the end of quiet hours is
    # further away than that).
    assert (
        now + IDLE_TICK - dt.timedelta(seconds=5) <= campaign.tick_at <= timezone.now() + IDLE_TICK
    )
