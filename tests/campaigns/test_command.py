"""`manage.py campaign`: the same service from a shell."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from sms.campaigns.models import Campaign

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("campaign", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_prints_counts_and_cost_and_creates_nothing(audience):
    answer = json.loads(run("start", "--tag", str(audience["tag"].pk), "--text", "Hi", "--dry-run"))
    assert answer["recipients"] == 4 and answer["cost"] == "0.1650"
    assert not Campaign.objects.exists()


def test_start_status_and_cancel(audience):
    next_month = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    run("start", "--segment", str(audience["segment"].pk), "--text", "Hi",
        "--at", f"{next_month} 12:00", "--tz", "Europe/Paris")  # fmt: skip
    campaign = Campaign.objects.get()
    assert json.loads(run("status", str(campaign.pk)))["status"] == "scheduled"
    assert json.loads(run("cancel", str(campaign.pk)))["status"] == "cancelled"


def test_errors_are_the_services_messages(audience):
    with pytest.raises(CommandError, match="unknown_time_zone"):
        run("start", "--tag", str(audience["tag"].pk), "--text", "Hi", "--at", "2099-01-01 12:00",
            "--tz", "Nowhere/Land")  # fmt: skip
