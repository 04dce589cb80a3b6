"""The approval queue page: what it shows, approve / edit / reject / bulk, expiry, live updates."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact, ContactTag, Tag
from contacts.services.contacts import create_contact
from contacts.services.duplicates import merge_contacts
from contacts.services.segments import create_segment
from dashboard.actors import Actor
from dashboard.agents import pipeline
from dashboard.agents.models import ActionOutcome, AgentAction, ApprovalRequest, ApprovalStatus
from dashboard.agents.pipeline import credits_spent_this_month, perform
from dashboard.models import AuditEntry
from sms.models import CreditAccount, Message
from sms.services import credits

pytestmark = pytest.mark.django_db

QUEUE = reverse("approvals:queue")
POLL = reverse("approvals:poll")


def approve_url(request: ApprovalRequest) -> str:
    return reverse("approvals:approve", args=[request.pk])


def reject_url(request: ApprovalRequest) -> str:
    return reverse("approvals:reject", args=[request.pk])


def test_the_queue_shows_each_pending_request_newest_first_with_what_staff_need(
    staff_client, gated_agent, ask_to_send, contact
):
    older = ask_to_send(gated_agent, "First text", reason="Customer asked for an update")
    newer = ask_to_send(gated_agent, "Second text")
    response = staff_client.get(QUEUE)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.index(f'id="approval-{newer.pk}"') < page.index(f'id="approval-{older.pk}"')
    assert "gated-gus" in page
    assert "Alice Smith" in page and contact.phone in page
    assert "First text" in page
    assert "Customer asked for an update" in page
    assert "1 segment" in page
    assert "0.0400 credits of 10.0000" in page


def test_a_campaign_request_shows_its_audience_by_name_how_many_it_reaches_and_the_cost(
    staff_client, gated_agent, funded, contact
):
    # The figures staff most need before letting an agent text a whole list.
    vip = Tag.objects.create(name="VIP")
    ContactTag.objects.create(contact=contact, tag=vip)
    outcome = perform(gated_agent, "start_campaign", {
        "message": "Hi {first_name}", "audience_kind": "tag", "audience_id": vip.pk,
        "kind": "transactional", "name": "",
    })  # fmt: skip
    assert outcome.status == 202, outcome.body
    page = staff_client.get(QUEUE).content.decode()
    assert 'data-testid="audience">tag “VIP” · <strong>1</strong> recipient<' in page
    assert "up to 1 segment a message" in page
    assert "0.0400 credits of 10.0000" in page
    assert "audience_id" not in page and "<dt>name</dt>" not in page


def test_a_campaign_whose_audience_was_deleted_since_says_so(
    staff_client, gated_agent, funded, contact
):
    vip = Tag.objects.create(name="VIP")
    ContactTag.objects.create(contact=contact, tag=vip)
    perform(gated_agent, "start_campaign", {
        "message": "Hi", "audience_kind": "tag", "audience_id": vip.pk, "kind": "transactional",
    })  # fmt: skip
    tag_id = vip.pk
    vip.delete()

    page = staff_client.get(QUEUE).content.decode()

    assert (
        f'data-testid="audience">tag #{tag_id} <span class="badge badge-danger">deleted since'
        in page
    )
    assert "recipient" not in page.split('data-testid="audience">', 1)[1].split("</dd>", 1)[0]
    assert "audience_id" not in page


def test_a_scheduled_send_shows_when_in_the_site_time_zone(
    staff_client, gated_agent, funded, contact, settings
):
    settings.TIME_ZONE = "America/New_York"
    when = (timezone.now() + dt.timedelta(days=2)).replace(hour=15, minute=0, second=0)
    outcome = perform(gated_agent, "send_sms", {
        "contact_id": str(contact.pk), "message": "Later", "schedule_at": when.isoformat(),
    })  # fmt: skip
    assert outcome.status == 202, outcome.body
    page = staff_client.get(QUEUE).content.decode()
    assert f"{timezone.localtime(when):%d %b %Y %H:%M %Z}" in page  # e.g. 10:00 EST
    assert when.isoformat() not in page


def test_a_request_whose_contact_is_gone_says_so_instead_of_showing_no_recipient(
    staff_client, gated_agent, ask_to_send, contact, system_actor
):
    # Merged into another contact since the agent asked: staff must not approve it blind.
    request = ask_to_send(gated_agent)
    survivor = create_contact(actor=system_actor, email="alice.smith@example.com")
    merge_contacts(actor=system_actor, survivor=survivor, duplicate=contact)

    page = staff_client.get(QUEUE).content.decode()

    item = page.split(f'id="approval-{request.pk}"', 1)[1].split("</article>", 1)[0]
    assert "This contact no longer exists: it was merged into" in item
    assert reverse("contacts:detail", args=[survivor.pk]) in item


def test_the_queue_page_does_not_grow_its_queries_with_the_requests(
    staff_client, gated_agent, ask_to_send, django_assert_max_num_queries
):
    for n in range(5):
        ask_to_send(gated_agent, f"Text {n}")
    with django_assert_max_num_queries(14):
        assert staff_client.get(QUEUE).status_code == 200


def test_a_poll_naming_requests_in_digits_of_other_scripts_is_an_update_not_an_error_page(
    staff_client, gated_agent, ask_to_send
):
    request = ask_to_send(gated_agent)
    response = staff_client.get(POLL, {"shown": ["²", str(request.pk)]})
    assert response.status_code == 200


def test_approving_runs_the_send_once_and_audits_the_decision(
    htmx_client, staff_user, gated_agent, ask_to_send
):
    request = ask_to_send(gated_agent)
    response = htmx_client.post(approve_url(request), {"text": "Your parcel arrives today."})
    assert response.status_code == 200
    assert "Approved" in response["HX-Trigger"]
    request.refresh_from_db()
    assert request.status == ApprovalStatus.EXECUTED
    assert request.decided_by == staff_user
    assert Message.objects.count() == 1
    assert AgentAction.objects.get(pk=request.agent_action_id).outcome == ActionOutcome.DONE
    assert AuditEntry.objects.filter(action="approval.approve", actor_user=staff_user).exists()

    again = htmx_client.post(approve_url(request), {"text": "Your parcel arrives today."})
    assert "already executed" in again["HX-Trigger"]
    assert Message.objects.count() == 1


@pytest.fixture
def admin_htmx_client(admin_user) -> Client:
    """An admin's client whose requests look like htmx's: only admins erase people."""
    client = Client(headers={"HX-Request": "true"})
    client.force_login(admin_user)
    return client


def test_approving_an_erasure_names_the_segments_whose_conditions_now_match_nobody(
    admin_htmx_client, gated_agent, system_actor
):
    contact = create_contact(actor=system_actor, email="gone@example.com")
    rules = {"all": [{"field": "email", "op": "equals", "value": "gone@example.com"}]}
    create_segment(actor=system_actor, name="Gone soon", rules=rules)
    perform(gated_agent, "erase_contact", {"contact_id": str(contact.pk)})
    request = ApprovalRequest.objects.get()

    response = admin_htmx_client.post(approve_url(request))

    assert not Contact.objects.filter(pk=contact.pk).exists()
    toast = json.loads(response["HX-Trigger"])["toast"]
    assert toast["level"] == "warning"
    assert "now match nobody: “Gone soon”" in toast["message"]


def test_a_crash_while_running_an_approved_action_leaves_it_pending_with_nothing_done(
    staff_user, gated_agent, ask_to_send, monkeypatch
):
    request = ask_to_send(gated_agent)
    spec = pipeline.ACTIONS["send_sms"]

    def send_then_die(**kwargs):
        spec.handler(**kwargs)  # the message is written…
        raise RuntimeError("worker killed")  # …and the process dies before the decision is saved

    monkeypatch.setitem(
        pipeline.ACTIONS, "send_sms", dataclasses.replace(spec, handler=send_then_die)
    )
    with pytest.raises(RuntimeError):
        pipeline.approve(request_id=request.pk, user=staff_user)
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    assert not Message.objects.exists()

    monkeypatch.setitem(pipeline.ACTIONS, "send_sms", spec)
    assert pipeline.approve(request_id=request.pk, user=staff_user).status == "executed"
    assert Message.objects.count() == 1


def test_a_crash_while_recording_a_rejection_leaves_the_request_pending(
    staff_user, gated_agent, ask_to_send, monkeypatch
):
    request = ask_to_send(gated_agent)

    def audit_fails(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(pipeline.audit, "record", audit_fails)
    with pytest.raises(RuntimeError):
        pipeline.reject(request_id=request.pk, user=staff_user, note="No")
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING and request.decided_by is None
    assert AgentAction.objects.get().outcome == ActionOutcome.PENDING_APPROVAL

    monkeypatch.undo()
    assert pipeline.reject(request_id=request.pk, user=staff_user, note="No").status == "rejected"
    assert AuditEntry.objects.filter(action="approval.reject").count() == 1


def test_editing_the_text_sends_the_edit_and_keeps_what_the_agent_wrote(
    staff_client, gated_agent, ask_to_send
):
    request = ask_to_send(gated_agent, "Yo, ur parcel is coming")
    staff_client.post(approve_url(request), {"text": "Your parcel arrives today."})
    message = Message.objects.get()
    assert message.text == "Your parcel arrives today."
    request.refresh_from_db()
    assert request.original_payload["message"] == "Yo, ur parcel is coming"
    entry = AuditEntry.objects.get(action="approval.approve")
    assert entry.changes["text"] == ["Yo, ur parcel is coming", "Your parcel arrives today."]


def test_a_multi_line_text_approved_as_the_page_posts_it_is_sent_unedited(
    staff_client, htmx_client, gated_agent, ask_to_send
):
    # Browsers post a textarea's line breaks as CR LF: approving without touching the text
    # must neither count as an edit nor send a CR (a character more per line break).
    single = ask_to_send(gated_agent, "Hello Ann,\nyour parcel arrives today.")
    staff_client.post(approve_url(single), {"text": "Hello Ann,\r\nyour parcel arrives today."})
    bulk = ask_to_send(gated_agent, "Hi Bob,\nyours too.")
    htmx_client.post(reverse("approvals:bulk"), {
        "ids": [bulk.pk], "decision": "approve", "note": "", f"text-{bulk.pk}": "Hi Bob,\r\nyours too.",
    })  # fmt: skip

    assert sorted(Message.objects.values_list("text", flat=True)) == [
        "Hello Ann,\nyour parcel arrives today.",
        "Hi Bob,\nyours too.",
    ]
    assert all(
        "text" not in e.changes for e in AuditEntry.objects.filter(action="approval.approve")
    )


def test_an_edit_that_cannot_be_sent_is_refused_and_the_request_keeps_waiting(
    htmx_client, gated_agent, ask_to_send
):
    request = ask_to_send(gated_agent)
    response = htmx_client.post(approve_url(request), {"text": "   "})
    assert response.status_code == 200
    assert "Write the message first." in response.content.decode()
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    assert not Message.objects.exists()


def test_an_edit_that_would_take_the_agent_past_its_budget_is_refused_and_keeps_waiting(
    htmx_client, make_agent, ask_to_send
):
    # The budget held the short text's price when the agent asked; a longer edit must fit too.
    agent = make_agent("thrifty", mode="gated", monthly_sms_budget=Decimal("0.05"))
    request = ask_to_send(agent, "Your parcel arrives today.")  # 1 segment, 0.04
    longer = "Your parcel arrives today. " * 10  # 2 segments, 0.08

    response = htmx_client.post(approve_url(request), {"text": longer})

    page = response.content.decode()
    assert "agent has 0.0500 left of its monthly budget of 0.0500" in page
    assert longer.strip() in page  # the edit is not lost
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING and request.decided_by is None
    assert not Message.objects.exists()
    assert credits_spent_this_month(agent) == Decimal("0.04")  # still only the held price
    htmx_client.post(approve_url(request), {"text": "Your parcel arrives today."})
    request.refresh_from_db()
    assert request.status == ApprovalStatus.EXECUTED
    assert credits_spent_this_month(agent) == Decimal("0.04")


def test_a_long_text_an_agent_may_ask_for_can_be_approved_as_it_is(
    htmx_client, gated_agent, ask_to_send, settings
):
    # The API takes texts up to 2,000 characters; the queue's form must not refuse one of
    # them that the send itself accepts.
    settings.SMS_MAX_SEGMENTS = 15
    text = "Your parcel arrives today. " * 63  # 1,701 characters, 12 segments
    request = ask_to_send(gated_agent, text)

    response = htmx_client.post(approve_url(request), {"text": text})

    assert "it ran" in json.loads(response["HX-Trigger"])["toast"]["message"]
    request.refresh_from_db()
    assert request.status == ApprovalStatus.EXECUTED and not request.original_payload
    assert Message.objects.get().text == text


def test_approving_without_enough_credits_keeps_the_request_waiting_for_a_top_up(
    htmx_client, gated_agent, ask_to_send
):
    # The balance ran low since the agent asked: once an admin tops up, the same request can
    # still be approved, alone or selected with others; it is not used up as "approved but
    # failed".
    request = ask_to_send(gated_agent)
    CreditAccount.objects.update(balance=Decimal("0.01"))

    alone = htmx_client.post(approve_url(request), {"text": "Your parcel arrives today."})
    bulk = htmx_client.post(reverse("approvals:bulk"), {"ids": [request.pk], "decision": "approve"})

    assert "Not enough credits: this needs 0.04, the balance is 0.01." in alone.content.decode()
    toast = json.loads(bulk["HX-Trigger"])["toast"]
    assert toast["level"] == "error" and "Not enough credits" in toast["message"]
    assert "was approved but did not run" not in toast["message"]
    assert f'<div id="approval-{request.pk}" hx-swap-oob="delete">' not in bulk.content.decode()
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING and request.decided_by is None
    assert not Message.objects.exists()
    credits.top_up(actor=Actor.system("tests"), amount=Decimal("1"), note="top up")
    htmx_client.post(approve_url(request), {"text": "Your parcel arrives today."})
    request.refresh_from_db()
    assert request.status == ApprovalStatus.EXECUTED
    assert Message.objects.count() == 1


def test_rejecting_with_a_reason_sends_nothing_and_tells_the_agent_why(
    htmx_client, gated_agent, gated_client, ask_to_send
):
    request = ask_to_send(gated_agent)
    response = htmx_client.post(reject_url(request), {"note": "Too informal"})
    assert "Rejected" in response["HX-Trigger"]
    request.refresh_from_db()
    assert request.status == ApprovalStatus.REJECTED
    assert not Message.objects.exists()
    polled = gated_client.get(f"/api/v1/approvals/{request.pk}").json()
    assert polled["status"] == "rejected"
    assert polled["decision_note"] == "Too informal"
    assert AgentAction.objects.get(pk=request.agent_action_id).outcome == ActionOutcome.FAILED


def test_an_expired_request_leaves_the_queue_and_can_no_longer_be_approved(
    staff_client, gated_agent, ask_to_send, settings
):
    request = ask_to_send(gated_agent)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert f"approval-{request.pk}" not in staff_client.get(QUEUE).content.decode()
    request.refresh_from_db()
    assert request.status == ApprovalStatus.EXPIRED
    response = staff_client.post(approve_url(request), {"text": "x"}, follow=True)
    assert "already expired" in response.content.decode()
    assert not Message.objects.exists()


def test_approving_a_request_that_expired_unseen_says_it_expired(
    htmx_client, gated_agent, ask_to_send
):
    request = ask_to_send(gated_agent)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    response = htmx_client.post(approve_url(request), {"text": "x"})
    assert "This request was already expired." in response["HX-Trigger"]
    assert not Message.objects.exists()


def test_expiry_is_audited_once_even_when_swept_twice(gated_agent, ask_to_send):
    request = ask_to_send(gated_agent)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert pipeline.expire_stale() == 1
    assert pipeline.expire_stale() == 0
    assert (
        AuditEntry.objects.filter(action="approval.expire", object_id=str(request.pk)).count() == 1
    )
    assert AgentAction.objects.get(pk=request.agent_action_id).outcome == ActionOutcome.FAILED


def test_requests_expire_after_the_configured_time(settings, gated_agent, ask_to_send):
    settings.AGENT_APPROVAL_TTL_HOURS = 2
    request = ask_to_send(gated_agent)
    assert request.expires_at - request.created_at == pytest.approx(
        dt.timedelta(hours=2), abs=dt.timedelta(seconds=5)
    )


def test_bulk_approval_runs_every_selected_request_and_reports_those_already_decided(
    htmx_client, gated_agent, ask_to_send
):
    first, second, third = (ask_to_send(gated_agent, f"Text {n}") for n in range(3))
    ApprovalRequest.objects.filter(pk=third.pk).update(status=ApprovalStatus.REJECTED)
    response = htmx_client.post(
        reverse("approvals:bulk"),
        {"ids": [first.pk, second.pk, third.pk], "decision": "approve", "note": ""},
    )
    assert response.status_code == 200
    trigger = response["HX-Trigger"]
    assert "Approved 2 request(s)." in trigger and f"#{third.pk}" in trigger
    assert Message.objects.count() == 2
    assert set(ApprovalRequest.objects.values_list("status", flat=True)) == {
        ApprovalStatus.EXECUTED,
        ApprovalStatus.REJECTED,
    }


def test_bulk_approval_sends_the_texts_edited_on_the_page(htmx_client, gated_agent, ask_to_send):
    # Staff fix a text, tick it and another, and approve both together: the fix goes out.
    edited, untouched = ask_to_send(gated_agent, "Txet 1"), ask_to_send(gated_agent, "Text 2")
    response = htmx_client.post(reverse("approvals:bulk"), {
        "ids": [edited.pk, untouched.pk], "decision": "approve", "note": "",
        f"text-{edited.pk}": "Text 1",
    })  # fmt: skip
    assert "Approved 2 request(s)." in response["HX-Trigger"]
    assert sorted(Message.objects.values_list("text", flat=True)) == ["Text 1", "Text 2"]
    edited.refresh_from_db()
    assert edited.original_payload["message"] == "Txet 1"


def test_bulk_rejection_stores_the_reason_on_each(staff_client, gated_agent, ask_to_send):
    requests = [ask_to_send(gated_agent, f"Text {n}") for n in range(2)]
    staff_client.post(
        reverse("approvals:bulk"),
        {"ids": [r.pk for r in requests], "decision": "reject", "note": "Wrong campaign"},
    )
    assert set(ApprovalRequest.objects.values_list("status", "decision_note")) == {
        (ApprovalStatus.REJECTED, "Wrong campaign")
    }
    assert not Message.objects.exists()


def test_a_bulk_decision_without_a_selection_says_so(htmx_client):
    response = htmx_client.post(reverse("approvals:bulk"), {"decision": "approve"})
    assert "Select at least one request first." in response["HX-Trigger"]


def test_polling_adds_new_requests_and_drops_decided_ones(staff_client, gated_agent, ask_to_send):
    older = ask_to_send(gated_agent, "Older, below the fold until now")
    shown = ask_to_send(gated_agent, "Shown already")
    decided = ask_to_send(gated_agent, "Decided elsewhere")
    ApprovalRequest.objects.filter(pk=decided.pk).update(status=ApprovalStatus.REJECTED)
    new = ask_to_send(gated_agent, "Brand new")
    response = staff_client.get(reverse("approvals:poll"), {"shown": [shown.pk, decided.pk]})
    page = response.content.decode()
    top, bottom = page.split('hx-swap-oob="beforeend:#approval-list"')
    assert f'id="approval-{new.pk}"' in top and "Brand new" in top
    assert "Older, below the fold until now" in bottom and f'id="approval-{older.pk}"' in bottom
    assert f'id="approval-{shown.pk}"' not in page
    assert f'<div id="approval-{decided.pk}" hx-swap-oob="delete">' in page
    assert 'id="nav-approvals-count"' in page and ">3</span>" in page


def poller_values(html: str, recent_from: str | None = None) -> dict[str, object]:
    """What the page's poller sends, as htmx would: the requests shown and the key of the
    "Recently decided" table (``recent_from``: a poll that redrew it since)."""
    key = re.search(r'id="recent-key" name="recent" value="([^"]*)"', recent_from or html)
    shown = re.findall(r'class="approval-shown" name="shown" value="(\d+)"', html)
    return {"shown": shown, "recent": key.group(1)}


def recently_decided(html: str) -> list[int]:
    section = html.split('id="recent-decisions"', 1)[1].split("</section>", 1)[0]
    return [int(pk) for pk in re.findall(r'<tr id="decided-(\d+)"', section)]


def test_polling_brings_a_colleagues_decision_into_recently_decided(
    staff_client, admin_user, gated_agent, ask_to_send, django_assert_max_num_queries
):
    waiting = ask_to_send(gated_agent, "Still waiting")
    decided = ask_to_send(gated_agent, "Decided by a colleague")
    page = staff_client.get(QUEUE).content.decode()
    assert recently_decided(page) == []
    pipeline.reject(request_id=decided.pk, user=admin_user, note="Not today")  # on their page
    # Expiry sweep, queue, decisions' key and rows, badge; session, user, their groups (the
    # navigation's own badge COUNT is not run: a poll draws no navigation).
    with django_assert_max_num_queries(8):
        polled = staff_client.get(POLL, poller_values(page)).content.decode()
    assert f'<div id="approval-{decided.pk}" hx-swap-oob="delete">' in polled
    assert 'id="recent-decisions" hx-swap-oob="true"' in polled
    assert recently_decided(polled) == [decided.pk]
    table = polled.split('id="recent-decisions"', 1)[1]
    assert "Rejected" in table and "ada" in table and "Not today" in table

    # Nothing decided since: the table is left as it is, its rows not even read.
    with django_assert_max_num_queries(7):
        calm = staff_client.get(POLL, poller_values(page, recent_from=polled))
    assert 'id="recent-decisions"' not in calm.content.decode()
    assert waiting.pk not in recently_decided(polled)


def test_a_bulk_decision_shows_in_recently_decided_at_once(htmx_client, gated_agent, ask_to_send):
    first, second, waiting = (ask_to_send(gated_agent, f"Text {n}") for n in range(3))
    page = htmx_client.get(QUEUE).content.decode()
    response = htmx_client.post(
        reverse("approvals:bulk"),
        {"ids": [first.pk, second.pk], "decision": "reject", "note": "Wrong day"},
    )
    decided = response.content.decode()
    # The decided requests leave the page; the one still waiting is left as it is, not redrawn.
    for gone in (first, second):
        assert f'<div id="approval-{gone.pk}" hx-swap-oob="delete"></div>' in decided
    assert f'id="approval-{waiting.pk}"' not in decided
    # An id no request could have is named as such, not an error page.
    odd = htmx_client.post(reverse("approvals:bulk"), {"ids": [str(2**64)], "decision": "reject"})
    assert "Pick requests from the queue." in json.loads(odd["HX-Trigger"])["toast"]["message"]
    # Not only on the next poll: the table and the badge come with the answer, out of band.
    assert 'id="recent-decisions" hx-swap-oob="true"' in decided
    assert recently_decided(decided) == [second.pk, first.pk]
    assert "Wrong day" in decided.split('id="recent-decisions"', 1)[1]
    assert 'hx-swap-oob="true" data-testid="approvals-badge"' in decided
    assert 'title="Requests waiting for approval">1</span>' in decided
    # The page's key came with it, so the next poll leaves the table alone.
    calm = htmx_client.get(POLL, poller_values(page, recent_from=decided) | {"shown": []})
    assert 'id="recent-decisions"' not in calm.content.decode()


def test_a_single_decision_shows_in_recently_decided_at_once(htmx_client, gated_agent, ask_to_send):
    request, waiting = ask_to_send(gated_agent, "Decided"), ask_to_send(gated_agent, "Waiting")
    response = htmx_client.post(reject_url(request), {"note": "Not now"})
    assert "Rejected" in response["HX-Trigger"]
    decided = response.content.decode()
    assert f'id="approval-{waiting.pk}"' not in decided  # the queue stays as it is
    assert recently_decided(decided) == [request.pk]
    assert 'title="Requests waiting for approval">1</span>' in decided


def test_deciding_the_last_waiting_request_shows_the_empty_queue_message(
    htmx_client, gated_agent, ask_to_send
):
    first, last = ask_to_send(gated_agent, "First"), ask_to_send(gated_agent, "Last")
    one_left = htmx_client.post(reject_url(first), {"note": "No"}).content.decode()
    assert re.search(r'<p id="queue-empty"[^>]*hx-swap-oob="true" hidden>', one_left)
    none_left = htmx_client.post(reject_url(last), {"note": "No"}).content.decode()
    assert re.search(r'<p id="queue-empty"[^>]*hx-swap-oob="true">Nothing waits', none_left)


def test_recently_decided_lists_the_last_decision_first(
    staff_client, staff_user, gated_agent, ask_to_send
):
    older, newer = ask_to_send(gated_agent, "Older"), ask_to_send(gated_agent, "Newer")
    pipeline.reject(request_id=newer.pk, user=staff_user)
    pipeline.reject(request_id=older.pk, user=staff_user)
    assert recently_decided(staff_client.get(QUEUE).content.decode()) == [older.pk, newer.pk]


def test_a_decision_that_commits_after_a_later_one_still_reaches_the_page(
    staff_client, staff_user, gated_agent, ask_to_send
):
    # An approval stamps its time when it claims the request and commits once the action ran,
    # so a slow one can land after a quicker decision the page already shows.
    slow, quick = ask_to_send(gated_agent, "Slow"), ask_to_send(gated_agent, "Quick")
    pipeline.reject(request_id=quick.pk, user=staff_user)
    page = staff_client.get(QUEUE).content.decode()
    assert recently_decided(page) == [quick.pk]
    pipeline.reject(request_id=slow.pk, user=staff_user)
    ApprovalRequest.objects.filter(pk=slow.pk).update(
        decided_at=ApprovalRequest.objects.get(pk=quick.pk).decided_at - dt.timedelta(seconds=5)
    )
    polled = staff_client.get(POLL, poller_values(page)).content.decode()
    assert recently_decided(polled) == [quick.pk, slow.pk]


def test_the_navigation_shows_how_many_requests_wait(staff_client, gated_agent, ask_to_send):
    ask_to_send(gated_agent)
    ask_to_send(gated_agent)
    page = staff_client.get(reverse("home")).content.decode()
    assert 'data-testid="approvals-badge"' in page
    assert 'title="Requests waiting for approval">2</span>' in page


def test_the_badges_leave_out_requests_past_their_time_before_the_sweep(
    staff_client, gated_agent, ask_to_send
):
    ask_to_send(gated_agent)
    stale = ask_to_send(gated_agent)
    ApprovalRequest.objects.filter(pk=stale.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )  # expire_stale has not run: it is still "pending"

    page = staff_client.get(reverse("home")).content.decode()
    assert 'title="Requests waiting for approval">1</span>' in page
    # The agents pages' "waiting for approval" figures too.
    queue_link = f'<a href="{QUEUE}">1</a>'
    assert queue_link in staff_client.get(reverse("agents:list")).content.decode()
    detail = reverse("agents:detail", args=[gated_agent.pk])
    assert queue_link in staff_client.get(detail).content.decode()
    # Counting wrote nothing: the sweep still finds the request to expire and audit.
    assert ApprovalRequest.objects.get(pk=stale.pk).status == ApprovalStatus.PENDING


def test_an_agent_cannot_reach_the_staff_queue(gated_client):
    assert gated_client.get(QUEUE).status_code == 302  # to the login page


def test_a_gated_erasure_waits_in_the_queue_and_erases_once_approved(
    admin_htmx_client, gated_agent, contact
):

    outcome = perform(gated_agent, "erase_contact", {"contact_id": str(contact.pk)})
    assert outcome.status == 202
    page = admin_htmx_client.get(QUEUE).content.decode()
    assert "erase_contact" in page and "Alice Smith" in page
    assert 'name="text"' not in page  # nothing to edit in an erasure
    admin_htmx_client.post(reverse("approvals:approve", args=[outcome.body["approval_id"]]))
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_a_staff_member_who_is_not_an_admin_cannot_erase_a_person_by_approving_an_agent(
    htmx_client, gated_agent, contact
):
    # Erasing a person is for admins on the contact page; approving an agent's erasure must
    # not be a way round that.
    outcome = perform(gated_agent, "erase_contact", {"contact_id": str(contact.pk)})
    request = ApprovalRequest.objects.get(pk=outcome.body["approval_id"])
    assert "Only an admin can approve an erasure" in htmx_client.get(QUEUE).content.decode()

    response = htmx_client.post(approve_url(request))

    assert response.status_code == 200
    assert "Only an admin can approve an erasure" in response.content.decode()
    assert Contact.objects.filter(pk=contact.pk).exists()
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING and request.decided_by is None
    # Nor in a bulk decision; rejecting it stays open to every staff member.
    bulk = htmx_client.post(reverse("approvals:bulk"), {"ids": [request.pk], "decision": "approve"})
    toast = json.loads(bulk["HX-Trigger"])["toast"]["message"]
    assert "Only an admin can approve an erasure" in toast
    assert Contact.objects.filter(pk=contact.pk).exists()
    htmx_client.post(reject_url(request), {"note": "Not without a ticket"})
    request.refresh_from_db()
    assert request.status == ApprovalStatus.REJECTED
