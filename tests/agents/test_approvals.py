"""Gated agents: sends and erasures wait for staff, then run exactly once (or never)."""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact
from contacts.services.contacts import create_contact
from dashboard.actors import Actor
from dashboard.agents.models import Agent, AgentAction, ApprovalRequest
from dashboard.agents.pipeline import approve, expire_stale, reject
from dashboard.agents.services import revoke
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from sms.gateways import sandbox
from sms.models import Message
from sms.services import credits
from tests.agents.personas import client_for

pytestmark = pytest.mark.django_db
MOBILE = "+447400123456"


@pytest.fixture(autouse=True)
def _sandbox(settings):
    settings.SMS_GATEWAY = "sandbox"
    settings.SMS_QUIET_HOURS = "00:00-00:00"
    sandbox.OUTBOX.clear()


@pytest.fixture
def funded(db):
    credits.ensure_default_prices()
    credits.ensure_account()
    credits.top_up(actor=Actor.system("tests"), amount=Decimal("10"), note="test credit")


def ask_to_send(client, text="Your parcel arrives today", **extra):
    body = {"to": MOBILE, "message": text, "reason": "parcel update", **extra}
    return client.post("/api/v1/sms", body, content_type="application/json")


def test_a_gated_send_waits_for_approval_and_sends_nothing_yet(gated_client, funded):
    response = ask_to_send(gated_client)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending_approval"
    request = ApprovalRequest.objects.get(pk=body["approval_id"])
    assert (request.status, request.action, request.reason) == (
        "pending",
        "send_sms",
        "parcel update",
    )
    assert body["preview"]["segments"] == 1
    assert not Message.objects.exists()
    poll = gated_client.get(f"/api/v1/approvals/{request.pk}")
    assert poll.status_code == 200 and poll.json()["status"] == "pending"


def test_approving_runs_the_send_once_as_the_agent(gated_client, gated_agent, funded, staff_user):
    approval_id = ask_to_send(gated_client).json()["approval_id"]
    decided = approve(request_id=approval_id, user=staff_user)
    assert decided.status == "executed"
    message = Message.objects.get()
    assert (message.text, message.actor_kind, message.actor_label) == (
        "Your parcel arrives today", "agent", gated_agent.name
    )  # fmt: skip
    with pytest.raises(SwitchboardError) as again:
        approve(request_id=approval_id, user=staff_user)
    assert again.value.code == "approval_already_decided"
    assert Message.objects.count() == 1
    poll = gated_client.get(f"/api/v1/approvals/{approval_id}").json()
    assert poll["status"] == "executed" and poll["result"]["id"] == message.pk
    assert gated_client.get(f"/api/v1/sms/{message.pk}").json()["status"] in ("queued", "sent")
    assert AuditEntry.objects.filter(
        action="approval.approve", actor_label=staff_user.username
    ).exists()


def test_staff_can_edit_the_text_before_approving(gated_client, funded, staff_user):
    approval_id = ask_to_send(gated_client, "Your parcle arives today").json()["approval_id"]
    decided = approve(
        request_id=approval_id, user=staff_user, edited_text="Your parcel arrives today!"
    )
    assert Message.objects.get().text == "Your parcel arrives today!"
    assert decided.original_payload["message"] == "Your parcle arives today"


def test_a_rejected_request_never_runs(gated_client, funded, staff_user):
    approval_id = ask_to_send(gated_client).json()["approval_id"]
    reject(request_id=approval_id, user=staff_user, note="wrong customer")
    with pytest.raises(SwitchboardError):
        approve(request_id=approval_id, user=staff_user)
    assert not Message.objects.exists()
    poll = gated_client.get(f"/api/v1/approvals/{approval_id}").json()
    assert (poll["status"], poll["decision_note"]) == ("rejected", "wrong customer")
    assert AgentAction.objects.get().outcome == "failed"


def test_an_expired_request_never_runs(gated_client, funded, staff_user):
    approval_id = ask_to_send(gated_client).json()["approval_id"]
    ApprovalRequest.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert expire_stale() == 1
    with pytest.raises(SwitchboardError) as refused:
        approve(request_id=approval_id, user=staff_user)
    assert refused.value.code == "approval_already_decided"
    assert not Message.objects.exists()
    assert gated_client.get(f"/api/v1/approvals/{approval_id}").json()["status"] == "expired"


def test_an_agent_or_outsider_can_never_approve(gated_client, funded, outsider_user):
    approval_id = ask_to_send(gated_client).json()["approval_id"]
    with pytest.raises(SwitchboardError) as refused:
        approve(request_id=approval_id, user=outsider_user)
    assert refused.value.code == "not_allowed"
    # The API has no way to decide a request at all.
    assert gated_client.post(f"/api/v1/approvals/{approval_id}").status_code == 405
    assert ApprovalRequest.objects.get().status == "pending"


def test_switching_an_agent_off_ends_what_it_left_waiting(
    gated_agent, gated_client, funded, staff_user, admin_user
):
    approval_id = ask_to_send(gated_client).json()["approval_id"]
    revoke(actor=Actor.staff(admin_user), agent=gated_agent)
    waiting = ApprovalRequest.objects.get(pk=approval_id)
    assert (waiting.status, waiting.decision_note) == ("withdrawn", "The agent was switched off.")
    assert waiting.decided_by == admin_user  # who switched it off, shown in Recently decided
    assert AgentAction.objects.get().credits == 0  # the held price no longer counts
    with pytest.raises(SwitchboardError) as refused:
        approve(request_id=approval_id, user=staff_user)
    assert refused.value.code == "approval_already_decided"
    assert not Message.objects.exists()


def test_the_migration_tells_past_withdrawals_from_staff_rejections(
    gated_agent, gated_client, funded, staff_user, admin_user
):
    # As before the withdrawn status: withdrawals were rejections audited without a note.
    first, second, third = (ask_to_send(gated_client).json()["approval_id"] for _ in range(3))
    reject(request_id=first, user=staff_user)  # no note given: still a staff verdict
    revoke(actor=Actor.staff(admin_user), agent=gated_agent)
    ApprovalRequest.objects.filter(pk__in=[second, third]).update(status="rejected")
    AuditEntry.objects.filter(action="approval.withdraw").update(
        action="approval.reject", changes={"status": ["pending", "rejected"]}
    )

    migration = importlib.import_module(
        "dashboard.agents.migrations.0005_approval_withdrawn_status"
    )
    migration.forward(django_apps, None)

    statuses = dict(ApprovalRequest.objects.values_list("pk", "status"))
    assert statuses == {first: "rejected", second: "withdrawn", third: "withdrawn"}
    entries = AuditEntry.objects.filter(object_type="approvalrequest")
    assert {(e.object_id, e.action) for e in entries} == {
        (str(first), "approval.reject"),
        (str(second), "approval.withdraw"),
        (str(third), "approval.withdraw"),
    }


def test_a_request_whose_agent_lost_the_scope_cannot_be_approved(
    gated_agent, gated_client, funded, staff_user
):
    approval_id = ask_to_send(gated_client).json()["approval_id"]
    Agent.objects.filter(pk=gated_agent.pk).update(scopes=["contacts:read"])
    with pytest.raises(SwitchboardError) as refused:
        approve(request_id=approval_id, user=staff_user)
    assert refused.value.code == "missing_scope"
    assert "sms:send" in refused.value.message and "reject" in refused.value.message
    assert not Message.objects.exists()
    # Still waiting, for staff to reject (or approve once the scope is back).
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"
    reject(request_id=approval_id, user=staff_user, note="scope removed")
    assert ApprovalRequest.objects.get(pk=approval_id).status == "rejected"


def test_a_request_of_an_agent_switched_off_meanwhile_cannot_be_approved(
    gated_agent, gated_client, funded, staff_user
):
    # The switch-off and the approval crossing: approval still checks the agent is on.
    approval_id = ask_to_send(gated_client).json()["approval_id"]
    Agent.objects.filter(pk=gated_agent.pk).update(is_active=False)
    with pytest.raises(SwitchboardError) as refused:
        approve(request_id=approval_id, user=staff_user)
    assert refused.value.code == "agent_switched_off"
    assert not Message.objects.exists()


def test_a_bad_send_is_refused_at_once_instead_of_queued(gated_client, funded):
    response = ask_to_send(gated_client, to="+4412")
    assert response.status_code == 406
    assert response.json()["code"] == "invalid_phone"
    assert not ApprovalRequest.objects.exists()


def test_gated_erasure_waits_and_runs_on_approval(make_agent, admin_user):
    agent = make_agent("eraser", mode="gated")
    contact = create_contact(actor=Actor.system("tests"), email="gone@example.com")
    client = client_for(agent)
    response = client.delete(f"/api/v1/contacts/{contact.pk}?reason=asked%20to%20be%20forgotten")
    assert response.status_code == 202
    assert Contact.objects.filter(pk=contact.pk).exists()
    approve(request_id=response.json()["approval_id"], user=admin_user)
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_autonomous_agents_send_at_once(agent_client, funded):
    response = ask_to_send(agent_client)
    assert response.status_code == 201
    assert response.json()["status"] in ("queued", "sent")
    assert Message.objects.count() == 1
    assert not ApprovalRequest.objects.exists()


def test_a_send_beyond_the_agents_monthly_budget_is_refused(make_agent, funded):
    client = client_for(
        make_agent("budgeted", mode="autonomous", monthly_sms_budget=Decimal("0.05"))
    )
    assert ask_to_send(client).status_code == 201  # 0.04 credits
    refused = ask_to_send(client, "Second message")
    assert refused.status_code == 406
    assert refused.json()["code"] == "agent_budget_exceeded"
    assert Message.objects.count() == 1


def test_a_dry_run_beyond_the_agents_monthly_budget_is_refused_as_the_send_would_be(
    make_agent, funded
):
    client = client_for(
        make_agent("budgeted", mode="autonomous", monthly_sms_budget=Decimal("0.05"))
    )
    assert ask_to_send(client).status_code == 201  # 0.04 credits of 0.05
    preview = ask_to_send(client, "Second message", dry_run=True)
    real = ask_to_send(client, "Second message")
    assert real.status_code == 406 and real.json()["code"] == "agent_budget_exceeded"
    assert (preview.status_code, preview.json()["code"]) == (406, "agent_budget_exceeded")
    assert Message.objects.count() == 1


def test_pending_approvals_hold_their_cost_against_the_budget(make_agent, funded):
    client = client_for(make_agent("holder", mode="gated", monthly_sms_budget=Decimal("0.05")))
    assert ask_to_send(client).status_code == 202
    assert ask_to_send(client, "Another").json()["code"] == "agent_budget_exceeded"


def test_a_request_past_its_time_holds_nothing_even_before_it_is_swept(
    make_agent, funded, staff_client
):
    # Nobody opened the queue since the request expired: it can never run, so neither the
    # agent's next send nor its pages may count its price as spent.
    agent = make_agent("holder", mode="gated", monthly_sms_budget=Decimal("0.05"))
    client = client_for(agent)
    first = ask_to_send(client).json()["approval_id"]
    ApprovalRequest.objects.filter(pk=first).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    assert client.get("/api/v1/sms/credits").json()["agent_spent_this_month"] == "0.0000"
    page = staff_client.get(reverse("agents:list")).content.decode()
    assert "0.0000 / 0.0500" in page
    assert ask_to_send(client, "Another").status_code == 202


def test_a_dry_run_prices_the_send_and_sends_nothing(gated_client, funded):
    response = ask_to_send(gated_client, dry_run=True)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["segments"], body["encoding"]) == ("preview", 1, "GSM-7")
    assert not Message.objects.exists() and not ApprovalRequest.objects.exists()


def test_without_credits_a_send_is_refused_with_insufficient_credits(agent_client, db):
    credits.ensure_default_prices()
    credits.ensure_account()
    response = ask_to_send(agent_client)
    assert response.status_code == 406
    assert response.json()["code"] == "insufficient_credits"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs concurrent writers")
def test_two_staff_approving_at_once_send_one_message(gated_agent, funded, staff_user, admin_user):
    approval_id = ask_to_send(client_for(gated_agent)).json()["approval_id"]
    results: list[str] = []
    barrier = threading.Barrier(2)

    def decide(user):
        barrier.wait()
        try:
            results.append(approve(request_id=approval_id, user=user).status)
        except SwitchboardError as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(u,)) for u in (staff_user, admin_user)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["approval_already_decided", "executed"]
    assert Message.objects.count() == 1
