"""Agents start and follow SMS campaigns through the same pipeline and oversight as single sends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from contacts.services.contacts import create_contact
from contacts.services.tags import delete_tag
from dashboard.actors import Actor
from dashboard.agents import pipeline
from dashboard.agents.models import ApprovalRequest
from dashboard.agents.pipeline import approve
from sms.campaigns.models import Campaign
from sms.campaigns.services.campaigns import run_campaign
from sms.services import credits
from tests.agents.personas import client_for

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def _sandbox(settings):
    settings.SMS_GATEWAY = "sandbox"


@pytest.fixture
def vip_tag(db):
    credits.ensure_default_prices()
    credits.ensure_account()
    credits.top_up(actor=SYSTEM, amount=Decimal("50"), note="test credit")
    for n, consent in enumerate(["granted", "granted", "withdrawn"]):
        create_contact(
            actor=SYSTEM, email=f"vip{n}@example.com", phone=f"+4474001234{n:02d}", first_name=f"V{n}",
            sms_consent=consent, tags=["VIP"],
        )  # fmt: skip
    from contacts.models import Tag

    return Tag.objects.get(name="VIP")


def _body(tag, **extra):
    return {
        "message": "Hi {first_name}, 20% off today",
        "audience_kind": "tag",
        "audience_id": tag.pk,
        **extra,
    }


def post(client, data, **headers):
    return client.post("/api/v1/campaigns", data, content_type="application/json", headers=headers)


def test_a_dry_run_counts_recipients_and_exclusions_and_prices_them(agent_client, vip_tag):
    response = post(agent_client, _body(vip_tag, dry_run=True))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "preview"
    assert body["recipients"] == 2
    assert sum(body["excluded"].values()) == 1
    assert Decimal(body["cost"]) > 0
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("mode", ["autonomous", "gated"])
def test_sample_texts_are_only_for_an_agent_that_may_read_contacts(make_agent, vip_tag, mode):
    # The samples are contacts' names and numbers, their texts rendered with any field: an
    # agent without contacts:read could read three members of any list, tag or segment (and
    # any field, by putting it in the message) with a dry run.
    agent = make_agent("sender-only", mode=mode, scopes=["campaigns:send"])
    body = _body(vip_tag, message="Your email is {email}", dry_run=True)

    response = post(client_for(agent), body)

    assert response.status_code == 200, response.content
    assert response.json()["recipients"] == 2
    assert response.json()["samples"] == []
    assert "vip0@example.com" not in response.content.decode()
    assert "+447400123400" not in response.content.decode()
    reader = make_agent("reader", mode=mode, scopes=["campaigns:send", "contacts:read"])
    samples = post(client_for(reader), body).json()["samples"]
    assert [s["text"] for s in samples] == [
        "Your email is vip0@example.com", "Your email is vip1@example.com",
    ]  # fmt: skip


def test_an_autonomous_agent_starts_a_campaign_and_follows_it(
    agent_client, autonomous_agent, vip_tag
):
    response = post(agent_client, _body(vip_tag, name="Flash sale"))
    assert response.status_code == 201, response.content
    campaign = Campaign.objects.get()
    assert campaign.actor_kind == "agent" and campaign.actor_ref == str(autonomous_agent.pk)
    status = agent_client.get(f"/api/v1/campaigns/{campaign.pk}")
    assert status.status_code == 200
    assert status.json()["name"] == "Flash sale"
    assert set(status.json()["progress"]) >= {"sent", "delivered", "failed", "cancelled", "percent"}


def test_a_gated_agent_waits_for_approval_and_the_campaign_starts_once(
    gated_client, gated_agent, vip_tag, staff_user
):
    response = post(gated_client, _body(vip_tag, reason="Black Friday"))
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending_approval"
    assert not Campaign.objects.exists()
    request = ApprovalRequest.objects.get(pk=response.json()["approval_id"])
    approve(request_id=request.pk, user=staff_user)
    with pytest.raises(Exception):  # noqa: B017 - a second decision is refused, whatever its wording
        approve(request_id=request.pk, user=staff_user)
    assert Campaign.objects.count() == 1


@pytest.mark.parametrize("mode", ["at", "local"])
def test_a_gated_campaign_approved_after_its_time_starts_at_once(
    gated_client, vip_tag, staff_user, mode
):
    # As a gated single send does: staff cannot change the time when approving, so refusing it
    # as "in the past" left them nothing to do but watch the request fail.
    when = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = post(gated_client, _body(vip_tag, schedule=mode, send_at=when))
    assert response.status_code == 202, response.content
    request = ApprovalRequest.objects.get(pk=response.json()["approval_id"])
    passed = (timezone.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    ApprovalRequest.objects.filter(pk=request.pk).update(
        payload={**request.payload, "send_at": passed}
    )

    request = approve(request_id=request.pk, user=staff_user)

    assert request.status == "executed", request.result
    campaign = Campaign.objects.get()
    assert campaign.schedule_mode == "now"
    assert campaign.start_at <= timezone.now()


def _scheduled_then_grown(client, tag, newcomers: int) -> Campaign:
    """An agent's campaign scheduled for tomorrow, whose audience then grows, now due."""
    when = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = post(client, _body(tag, schedule="at", send_at=when))
    assert response.status_code == 201, response.content
    for n in range(newcomers):
        create_contact(
            actor=SYSTEM, email=f"new{n}@example.com", phone=f"+4474001235{n:02d}",
            sms_consent="granted", tags=["VIP"],
        )  # fmt: skip
    campaign = Campaign.objects.get()
    Campaign.objects.filter(pk=campaign.pk).update(start_at=timezone.now(), tick_at=None)
    run_campaign(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def test_a_scheduled_campaign_whose_audience_outgrew_the_agents_budget_does_not_start(
    make_agent, vip_tag
):
    # Scheduled for 2 recipients (0.08 credits) within a 0.10 budget, it reached 5 (0.20) by
    # its start: the budget was checked only when it was asked for, and the agent overspent.
    agent = make_agent("thrifty", monthly_sms_budget=Decimal("0.10"))

    campaign = _scheduled_then_grown(client_for(agent), vip_tag, newcomers=3)

    assert campaign.status == "cancelled"
    assert campaign.excluded["problem"] == (
        "It did not start: its audience grew since thrifty scheduled it, and it now costs "
        "0.2 credits (0.08 then), but thrifty has 0.1 left of its monthly budget of 0.1."
    )
    assert credits.get_balance() == Decimal("50")
    assert str(pipeline.credits_spent_this_month(agent)) == "0.0800"


def test_a_scheduled_campaign_counts_against_the_budget_at_what_it_cost_when_it_started(
    make_agent, vip_tag
):
    agent = make_agent("thrifty", monthly_sms_budget=Decimal("1"))

    campaign = _scheduled_then_grown(client_for(agent), vip_tag, newcomers=3)

    assert campaign.status == "running"
    assert campaign.cost == Decimal("0.2")
    assert str(pipeline.credits_spent_this_month(agent)) == "0.2000"


def test_business_errors_are_406_and_unknown_ids_404(agent_client, vip_tag):
    # A placeholder is part of the text, not a resource: a broken rule, 406.
    response = post(agent_client, _body(vip_tag, message="Hi {nickname}"))
    assert response.status_code == 406
    assert response.json()["code"] == "unknown_placeholder"
    assert "nickname" in response.json()["message"]
    response = post(
        agent_client, {**_body(vip_tag), "audience_kind": "segment", "audience_id": 999}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_segment"
    response = post(agent_client, _body(vip_tag, schedule="at", send_at="2020-01-01T12:00"))
    assert response.status_code == 406
    assert response.json()["code"] == "schedule_in_past"
    response = post(agent_client, _body(vip_tag, schedule="at", send_at=1893456000))
    assert response.status_code == 400
    assert "send_at: Give an ISO 8601 date-time" in response.json()["message"]
    assert agent_client.get("/api/v1/campaigns/999").status_code == 404


def test_campaigns_need_their_scope(make_agent, vip_tag):
    client = client_for(make_agent("no-campaigns", scopes=["contacts:read", "sms:send"]))
    assert post(client, _body(vip_tag)).status_code == 403


def test_another_agents_campaign_is_not_visible(agent_client, make_agent, vip_tag):
    campaign_id = post(agent_client, _body(vip_tag)).json()["id"]
    other = client_for(make_agent("other"))
    assert other.get(f"/api/v1/campaigns/{campaign_id}").status_code == 404


def test_a_campaign_that_could_not_start_tells_the_agent_why(agent_client, vip_tag):
    when = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    started = post(agent_client, _body(vip_tag, schedule="at", send_at=when, time_zone="UTC"))
    assert started.status_code == 201, started.content
    campaign_id = started.json()["id"]
    delete_tag(actor=SYSTEM, tag=vip_tag)
    Campaign.objects.filter(pk=campaign_id).update(start_at=timezone.now(), tick_at=None)
    run_campaign(campaign_id=campaign_id)

    response = agent_client.get(f"/api/v1/campaigns/{campaign_id}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["problem"] == "It did not start: the tag “VIP” it was sent to no longer exists."
    assert "problem" not in body["excluded"]


def test_a_send_at_with_an_offset_is_that_moment_not_a_wall_clock_in_time_zone(
    agent_client, vip_tag
):
    moment = (timezone.now() + dt.timedelta(days=1)).replace(second=0, microsecond=0)
    typed = moment.astimezone(dt.timezone(dt.timedelta(hours=5))).isoformat()  # …+05:00

    response = post(agent_client, _body(vip_tag, schedule="at", send_at=typed, time_zone="UTC"))

    assert response.status_code == 201, response.content
    campaign = Campaign.objects.get()
    assert campaign.send_at == moment
    assert campaign.start_at == moment
    assert response.json()["start_at"] == moment.isoformat()


def test_a_local_time_with_an_offset_is_refused_not_read_as_a_wall_clock(agent_client, vip_tag):
    when = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M") + "+05:00"

    response = post(agent_client, _body(vip_tag, schedule="local", send_at=when))

    assert response.status_code == 406, response.content
    assert response.json()["code"] == "invalid_schedule"
    assert "offset" in response.json()["message"]
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("send_at", ["2020", "1700000000", 1700000000])
def test_a_send_at_that_is_a_bare_number_is_refused(agent_client, vip_tag, send_at):
    response = post(agent_client, _body(vip_tag, schedule="at", send_at=send_at))
    if isinstance(send_at, int):  # not even text: the schema refuses it
        assert response.status_code == 400, response.content
    else:
        assert response.status_code == 406 and response.json()["code"] == "invalid_schedule"
        assert "ISO 8601" in response.json()["message"]
    assert not Campaign.objects.exists()


def test_the_documented_statuses_are_the_ones_a_campaign_reports(agent_client):
    # It said "finished", which no campaign ever reports: an agent polling for it never stopped.
    from sms.campaigns.models import CampaignStatus

    schemas = agent_client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    described = schemas["CampaignStatusOut"]["properties"]["status"]["description"]
    assert "finished" not in described
    for status in CampaignStatus.values:
        assert status in described
