"""A scheduled campaign and the list, tag or segment it is sent to: the delete pages name it,
merging its tag moves it to the other tag, and one whose audience went anyway says so when
it is due and costs nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import Tag
from contacts.services.lists import add_to_list, create_list, delete_list
from contacts.services.tags import delete_tag, merge_tags
from sms.campaigns.models import Campaign
from sms.campaigns.services.campaigns import run_campaign, start_campaign
from sms.gateways import sandbox
from sms.services import credits

from .conftest import SYSTEM, drive

pytestmark = pytest.mark.django_db


def schedule(audience_kind: str, audience_id: int, name: str = "Tomorrow") -> Campaign:
    when = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    return start_campaign(
        actor=SYSTEM, name=name, text="Hi {first_name}", audience_kind=audience_kind,
        audience_id=audience_id, schedule_mode="at", send_at=when, time_zone="Europe/London",
    ).campaign  # fmt: skip


def make_due(campaign: Campaign) -> None:
    past = timezone.now() - dt.timedelta(seconds=1)
    Campaign.objects.filter(pk=campaign.pk).update(start_at=past, send_at=past, tick_at=None)


def test_the_tag_page_names_the_scheduled_campaign_that_uses_it(staff_client, audience):
    campaign = schedule("tag", audience["tag"].pk)

    response = staff_client.get(reverse("contacts:tag_edit", args=[audience["tag"].pk]))

    assert response.status_code == 200
    assert 'data-testid="used-elsewhere"' in response.text
    assert reverse("campaigns:detail", args=[campaign.pk]) in response.text
    assert "1 scheduled campaign using it will be cancelled" in response.text


def test_the_segment_page_names_the_scheduled_campaign_that_uses_it(staff_client, audience):
    campaign = schedule("segment", audience["segment"].pk)

    response = staff_client.get(reverse("contacts:segment_detail", args=[audience["segment"].pk]))

    assert reverse("campaigns:detail", args=[campaign.pk]) in response.text
    assert "scheduled campaign using it will be cancelled" in response.text


def test_the_list_page_names_only_campaigns_still_to_start(staff_client, audience):
    vip = create_list(actor=SYSTEM, name="VIP")
    add_to_list(actor=SYSTEM, contact=audience["alice"], contact_list=vip)
    waiting = schedule("list", vip.pk, name="Waiting")
    sent = start_campaign(actor=SYSTEM, name="Sent already", text="Hi", audience_kind="list",
                          audience_id=vip.pk).campaign  # fmt: skip
    drive(sent)

    response = staff_client.get(reverse("contacts:list_edit", args=[vip.pk]))

    assert reverse("campaigns:detail", args=[waiting.pk]) in response.text
    assert "Sent already" not in response.text


def test_a_page_with_no_campaign_on_it_warns_of_nothing(staff_client, audience):
    response = staff_client.get(reverse("contacts:tag_edit", args=[audience["tag"].pk]))

    assert 'data-testid="used-elsewhere"' not in response.text


def test_merging_the_tag_moves_its_scheduled_campaign_to_the_other_tag(audience):
    campaign = schedule("tag", audience["tag"].pk)
    other = Tag.objects.create(name="black friday")

    merge_tags(actor=SYSTEM, source=audience["tag"], target=other)
    campaign.refresh_from_db()
    make_due(campaign)
    campaign = drive(campaign)

    assert (campaign.audience_id, campaign.audience_label) == (other.pk, "tag “black friday”")
    assert campaign.status == "completed"
    assert len(sandbox.OUTBOX) == 4


def scheduled_to_a_deleted_list(audience) -> Campaign:
    """A campaign scheduled to a "VIP" list, the list deleted before it is due."""
    vip = create_list(actor=SYSTEM, name="VIP")
    add_to_list(actor=SYSTEM, contact=audience["alice"], contact_list=vip)
    campaign = schedule("list", vip.pk)
    delete_list(actor=SYSTEM, contact_list=vip)
    return campaign


def run_after_its_list_was_deleted(audience) -> Campaign:
    campaign = scheduled_to_a_deleted_list(audience)
    make_due(campaign)
    run_campaign(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def test_a_campaign_whose_list_was_deleted_says_so_when_due_and_costs_nothing(audience):
    campaign = run_after_its_list_was_deleted(audience)

    assert campaign.status == "cancelled"
    assert campaign.excluded["problem"] == (
        "It did not start: the list “VIP” it was sent to no longer exists."
    )
    assert credits.get_balance() == Decimal("100")
    assert len(sandbox.OUTBOX) == 0


def test_the_tag_page_names_a_campaign_sent_to_a_segment_of_that_tag(staff_client, audience):
    campaign = schedule("segment", audience["segment"].pk)

    response = staff_client.get(reverse("contacts:tag_edit", args=[audience["tag"].pk]))

    assert reverse("campaigns:detail", args=[campaign.pk]) in response.text


def test_the_field_page_names_a_campaign_sent_to_a_segment_of_that_field(staff_client, audience):
    from contacts.models import Field, FieldValue
    from contacts.services.segments import create_segment

    score = Field.objects.create(name="score", type="number")
    FieldValue.objects.create(contact=audience["alice"], field=score, value_number=80)
    segment = create_segment(
        actor=SYSTEM, name="High scores",
        rules={"all": [{"field": "custom:score", "op": "gt", "value": 50}]},
    )  # fmt: skip
    campaign = schedule("segment", segment.pk)

    response = staff_client.get(reverse("contacts:field_edit", args=[score.pk]))

    assert 'data-testid="used-elsewhere"' in response.text
    assert reverse("campaigns:detail", args=[campaign.pk]) in response.text
    assert "1 scheduled campaign using it will be cancelled" in response.text


def test_a_campaign_whose_segment_lost_its_tag_says_which_segment_when_due(audience):
    campaign = schedule("segment", audience["segment"].pk)
    delete_tag(actor=SYSTEM, tag=audience["tag"])
    make_due(campaign)

    run_campaign(campaign_id=campaign.pk)
    campaign.refresh_from_db()

    assert campaign.status == "cancelled"
    assert campaign.excluded["problem"].startswith(
        "It did not start: the rules of the segment “Black Friday” it was sent to are no longer "
        "valid (all[0].value: the tag"
    )
    assert credits.get_balance() == Decimal("100")


def test_the_campaign_list_tells_one_that_did_not_start_from_one_cancelled(staff_client, audience):
    run_after_its_list_was_deleted(audience)

    response = staff_client.get(reverse("campaigns:list"))

    assert 'data-testid="campaign-status" title="It did not start: the list “VIP”' in response.text
    assert ">Did not start</span>" in response.text


def test_a_scheduled_campaign_whose_list_went_says_so_before_it_is_due(staff_client, audience):
    campaign = scheduled_to_a_deleted_list(audience)

    page = staff_client.get(reverse("campaigns:detail", args=[campaign.pk]))

    assert 'data-testid="audience-problem"' in page.text
    assert "It will not start: the list “VIP” it was sent to no longer exists." in page.text


def test_a_scheduled_campaign_with_its_audience_in_place_shows_no_problem(staff_client, audience):
    campaign = schedule("segment", audience["segment"].pk)

    page = staff_client.get(reverse("campaigns:detail", args=[campaign.pk]))

    assert 'data-testid="audience-problem"' not in page.text
