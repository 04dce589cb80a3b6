"""Erasing a contact also removes them from what agents sent and were answered (GDPR)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.services.contacts import get_contact, update_contact
from contacts.services.duplicates import merge_contacts
from contacts.services.erasure import erase_contact
from dashboard.actors import Actor
from dashboard.agents.models import AgentAction, ApprovalRequest
from dashboard.agents.pipeline import approve, credits_spent_this_month, perform, reject
from dashboard.agents.prompts import version_stats
from dashboard.models import AuditEntry
from dashboard.reports.queries import Period, approvals
from sms.gateways import sandbox
from tests.sms.conftest import MOBILE, _sandbox, funded, priced  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("funded")]


def _stored(*rows) -> str:
    return json.dumps([[r.payload, r.response_body] for r in rows], ensure_ascii=False)


def test_the_persons_requests_lose_their_data_and_others_keep_theirs(autonomous_agent):
    jane = perform(
        autonomous_agent, "upsert_contact",
        {"email": "Jane.Doe@Example.com", "phone": MOBILE, "first_name": "Jane",
         "last_name": "Doe", "metadata": {"plan": "pro"}, "sms_consent": "granted"},
        reason="Jane Doe signed up at the webinar",
    ).body  # fmt: skip
    perform(autonomous_agent, "send_sms", {"contact_id": jane["id"], "message": "Hi Jane"})
    perform(autonomous_agent, "upsert_contact", {"email": "jane.doe@example.com", "phone": "12"})
    perform(
        autonomous_agent,
        "batch_upsert",
        {"contacts": [{"email": "jane.doe@example.com"}, {"email": "bob@example.com"}]},
    )

    erase_contact(actor=Actor.system("tests"), contact=jane["id"])

    actions = list(AgentAction.objects.order_by("pk"))
    stored = _stored(*actions).lower()
    for trace in ("jane", "doe", MOBILE, jane["id"], "hi jane", '"pro"'):
        assert trace not in stored, trace
    assert actions[0].payload == {"erased": True} and actions[0].reason == ""
    # The batch keeps its other person, and every row still says who did what and how it went.
    assert actions[3].payload["contacts"] == [{"erased": True}, {"email": "bob@example.com"}]
    results = actions[3].response_body["results"]
    assert results[0] == {"erased": True} and results[1]["result"] == "created"
    assert [a.outcome for a in actions] == ["done", "done", "failed", "done"]


def test_requests_naming_them_by_a_former_address_or_a_merged_duplicate_lose_their_data(
    autonomous_agent, staff_user
):
    staff = Actor.staff(staff_user)
    jane = perform(
        autonomous_agent, "upsert_contact",
        {"email": "jane.old@example.com", "first_name": "Jane", "last_name": "Quux"},
    ).body  # fmt: skip
    update_contact(actor=staff, contact=get_contact(jane["id"]), email="jane.new@example.com")
    twin = perform(
        autonomous_agent, "upsert_contact",
        {"email": "jq@example.com", "first_name": "Janet", "last_name": "Quux"},
        reason="Janet Quux asked for a call back",
    ).body  # fmt: skip
    perform(autonomous_agent, "record_event", {"contact_id": twin["id"], "name": "call"})
    merge_contacts(actor=staff, survivor=jane["id"], duplicate=twin["id"])

    erase_contact(actor=Actor.system("tests"), contact=jane["id"])

    actions = list(AgentAction.objects.order_by("pk"))
    stored = (_stored(*actions) + json.dumps([a.reason for a in actions])).lower()
    for trace in ("jane.old@example.com", "jq@example.com", twin["id"], "quux"):
        assert trace not in stored, trace
    assert [a.payload for a in actions] == [{"erased": True}] * 3


def test_a_send_waiting_for_approval_is_rejected_and_its_credits_freed(gated_agent):
    jane = perform(
        gated_agent, "upsert_contact",
        {"email": "jane@example.com", "phone": MOBILE, "sms_consent": "granted"},
    ).body  # fmt: skip
    held = perform(gated_agent, "send_sms", {"to": MOBILE, "message": "Your code is ready"})
    assert held.status == 202 and credits_spent_this_month(gated_agent) > 0

    erase_contact(actor=Actor.system("tests"), contact=jane["id"])

    request = ApprovalRequest.objects.get()
    assert request.status == "withdrawn" and request.decision_note == "The contact was erased."
    assert MOBILE not in _stored(request.agent_action) + json.dumps(request.payload)
    assert request.agent_action.outcome == "failed"
    assert credits_spent_this_month(gated_agent) == 0
    assert not sandbox.OUTBOX


def test_the_audit_trail_of_a_decision_on_their_text_loses_the_text_and_the_note(
    gated_agent, staff_user
):
    jane = perform(
        gated_agent, "upsert_contact",
        {"email": "jane@example.com", "phone": MOBILE, "first_name": "Jane", "last_name": "Quux",
         "sms_consent": "granted"},
    ).body  # fmt: skip
    edited = perform(gated_agent, "send_sms", {"to": MOBILE, "message": "Hi Jane, see you"})
    approve(request_id=edited.body["approval_id"], user=staff_user,
            edited_text="Hi Jane, your appointment is at 3pm")  # fmt: skip
    refused = perform(gated_agent, "send_sms", {"to": MOBILE, "message": "Jane, buy now"})
    reject(request_id=refused.body["approval_id"], user=staff_user, note="Jane Quux said no")

    erase_contact(actor=Actor.system("tests"), contact=jane["id"])

    entries = AuditEntry.objects.filter(action__in=["approval.approve", "approval.reject"])
    assert entries.count() == 2
    stored = json.dumps([e.changes for e in entries]).lower()
    assert "jane" not in stored and "3pm" not in stored
    # Who decided what stays.
    assert sorted(e.changes["status"][1] for e in entries) == ["executed", "rejected"]


def test_requests_about_someone_else_are_untouched(autonomous_agent):
    perform(autonomous_agent, "upsert_contact", {"email": "bob@example.com", "first_name": "Bob"})
    jane = perform(autonomous_agent, "upsert_contact", {"email": "jane@example.com"}).body
    before = AgentAction.objects.get(payload__email="bob@example.com")

    erase_contact(actor=Actor.system("tests"), contact=jane["id"])

    after = AgentAction.objects.get(pk=before.pk)
    assert (after.payload, after.response_body) == (before.payload, before.response_body)


def test_a_request_withdrawn_by_erasure_is_not_counted_as_a_staff_rejection(
    make_agent, staff_user, staff_client
):
    agent = make_agent("courier", mode="gated", prompt="Be polite.")
    jane = perform(agent, "upsert_contact",
                   {"email": "jane@example.com", "phone": MOBILE, "sms_consent": "granted"}).body  # fmt: skip
    perform(agent, "send_sms", {"to": MOBILE, "message": "Hi Jane"})
    pushy = perform(agent, "send_sms", {"to": "+447400123457", "message": "Buy now"})
    reject(request_id=pushy.body["approval_id"], user=staff_user, note="Too pushy")

    erase_contact(actor=Actor.system("tests"), contact=jane["id"])

    (stats,) = version_stats(agent)
    assert (stats.rejected, stats.withdrawn, stats.decided) == (1, 1, 1)
    assert stats.rejection_reasons == [("Too pushy", 1)]
    today = timezone.localdate()
    summary = approvals(Period(start=today, end=today, grouping="day")).tables[0]
    withdrawn = summary.columns.index("Withdrawn")
    assert summary.rows[0][: withdrawn + 2] == [2, 0, 1, 0, 1, Decimal("0.0")]
    prompt_page = staff_client.get(reverse("agents:prompt", args=[agent.pk])).content.decode()
    assert "+1 withdrawn" in prompt_page
    queue = " ".join(staff_client.get(reverse("approvals:queue")).content.decode().split())
    assert ">Withdrawn</span></td> <td>system</td><td>The contact was erased.</td>" in queue
