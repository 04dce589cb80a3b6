"""A campaign in a real browser: compose for a segment, see the cost and the balance, schedule
it, cancel it, then send one now and watch its progress bar finish."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from contacts.services.contacts import create_contact
from contacts.services.segments import create_segment
from dashboard.actors import Actor
from sms.campaigns.models import Campaign
from sms.campaigns.services.campaigns import run_campaign
from sms.services import credits
from sms.services.messages import send_due_messages

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=15_000)


@pytest.fixture
def segment(settings):
    settings.SMS_GATEWAY = "sandbox"
    settings.CAMPAIGN_BATCH_SIZE = 2
    actor = Actor.system("tests")
    credits.ensure_default_prices()
    credits.top_up(actor=actor, amount=Decimal("50"))
    for email, phone in [("ann@acme.com", "+447400123456"), ("bob@acme.com", "+447400123457"),
                         ("cat@acme.com", "+33612345678"), ("dan@acme.com", "")]:  # fmt: skip
        create_contact(actor=actor, email=email, phone=phone, first_name=email[:3].title(),
                       sms_consent="granted", tags=["BF"])  # fmt: skip
    from contacts.models import Tag

    tag = Tag.objects.get(name="BF")
    return create_segment(
        actor=actor,
        name="Black Friday",
        rules={"all": [{"field": "tag", "op": "has", "value": tag.pk}]},
    )


def compose(page, segment, text: str) -> None:
    page.goto("/campaigns/new/")
    page.select_option("#id_audience", f"segment:{segment.pk}")
    page.fill("#id_text", text)
    page.fill("#id_quiet_hours", "")
    expect(page.get_by_test_id("recipients")).to_have_text("3")


def test_compose_schedule_cancel_then_send_and_watch_it_finish(staff_page, segment):
    page = staff_page
    compose(page, segment, "Hi {first_name}: 30% off until midnight")

    expect(page.get_by_test_id("excluded-invalid_phone")).to_have_text("1")
    expect(page.get_by_test_id("cost")).to_have_text("0.1550 credits")  # GB 2 x 0.04, FR 0.075
    expect(page.get_by_test_id("balance")).to_have_text("50.0000")
    expect(page.get_by_test_id("balance-after")).to_have_text("49.8450")
    expect(page.get_by_test_id("samples")).to_contain_text("Hi Ann: 30% off until midnight")

    # Schedule it for tomorrow noon, London time, then change our mind.
    page.check("input[name=schedule_mode][value=at]")
    tomorrow = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT12:00")
    page.fill("#id_send_at", tomorrow)
    page.fill("#id_time_zone", "Europe/London")
    page.get_by_test_id("send").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    expect(page.get_by_test_id("campaign-status")).to_have_text("Scheduled")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Cancelled")
    assert asked and asked[0].startswith("Cancel this campaign?")
    assert credits.get_balance() == Decimal("50")

    # Now send one straight away and follow it.
    compose(page, segment, "Doors open now, {first_name}!")
    page.get_by_test_id("send").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    campaign = Campaign.objects.order_by("-pk").first()
    assert campaign.status == "scheduled"
    # The task workers' part, done here: the heartbeat, then sending, a batch at a time.
    run_campaign(campaign_id=campaign.pk)
    expect(page.get_by_test_id("campaign-status")).to_have_text("Running")
    send_due_messages(limit=1)
    expect(page.get_by_test_id("sent")).to_have_text("1")
    send_due_messages()
    run_campaign(campaign_id=campaign.pk)
    expect(page.get_by_test_id("percent")).to_have_text("100%")
    expect(page.get_by_test_id("progress")).to_have_attribute("value", "100")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed")
