"""Agent oversight in a real browser: a gated agent's text is edited and approved with the
keyboard and delivered; decisions reach "Recently decided" live, a bulk one leaving a text being
edited elsewhere as it is; a prompt is edited, compared
and rolled back; the activity feed fills in an action that committed late, drops its empty
message when the first arrives, and keeps a poll of the old filter out of a new one."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from contacts.services.contacts import create_contact
from dashboard.actors import Actor
from dashboard.agents.models import AgentAction, ApprovalRequest
from dashboard.agents.pipeline import perform, reject
from dashboard.agents.services import create_agent
from sms.gateways.base import StatusReport
from sms.models import Message
from sms.services import credits
from sms.services.messages import record_status_report, send_due_messages
from tests.agents.personas import client_for

pytestmark = pytest.mark.django_db(transaction=True)


def make_agent(prompt: str):
    agent, secret = create_agent(
        actor=Actor.system("tests"),
        name="courier",
        mode="gated",
        scopes=["contacts:read", "sms:send"],
        prompt=prompt,
    )
    agent.client_secret = secret  # type: ignore[attr-defined]
    return agent


@pytest.fixture
def alice(transactional_db):
    credits.ensure_default_prices()
    credits.ensure_account()
    credits.top_up(actor=Actor.system("tests"), amount=100)
    return create_contact(
        actor=Actor.system("tests"), email="alice@example.com", phone="+447400123456",
        first_name="Alice", sms_consent="granted",
    )  # fmt: skip


def test_a_gated_text_is_edited_and_approved_with_the_keyboard_then_delivered(
    staff_page, alice, settings
):
    settings.SMS_GATEWAY = "sandbox"
    agent = make_agent("Be kind to customers.")
    page = staff_page
    page.goto("/approvals/")
    expect(page.locator("#queue-empty")).to_be_visible()

    # The agent asks through the API while the page is open.
    response = client_for(agent).post(
        "/api/v1/sms",
        {"contact_id": str(alice.pk), "message": "ur parcel is comin", "reason": "Asked for ETA"},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    item = page.locator(f"#approval-{response.json()['approval_id']}")

    # It appears without a reload, with the badge in the navigation.
    expect(item).to_contain_text("Asked for ETA")
    expect(item).to_contain_text("Alice")
    expect(page.get_by_test_id("approvals-badge")).to_have_text("1")
    expect(page.locator("#queue-empty")).to_be_hidden()

    page.keyboard.press("j")
    expect(item).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("e")
    text = item.locator("textarea")
    expect(text).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type("Hello {first_name}, your parcel arrives today.")
    page.keyboard.press("Escape")
    page.keyboard.press("a")

    expect(item).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text("it ran")
    message = Message.objects.get()
    assert message.text == "Hello Alice, your parcel arrives today."

    # The worker sends it (in-process) and the sandbox provider reports delivery.
    assert send_due_messages().sent == 1
    message.refresh_from_db()
    record_status_report(gateway="sandbox", report=StatusReport(message.provider_id, "delivered"))

    page.goto("/agents/messages/")
    row = page.get_by_test_id("agent-messages").locator("tbody tr").first
    expect(row.get_by_test_id("status")).to_have_text("Delivered")
    expect(row.get_by_test_id("prompt-version")).to_have_text("v1")
    expect(row).to_contain_text("approved by sam")
    expect(row).to_contain_text("edited")


def test_a_prompt_is_edited_compared_and_rolled_back(staff_page):
    agent = make_agent("Be polite.\nSign as Courier.")
    page = staff_page
    page.goto(f"/agents/{agent.pk}/prompt/")
    expect(page.locator(".editor-gutter")).to_have_text("1\n2")

    editor = page.locator("#id_text")
    editor.fill("Be warm and brief.\nSign as Courier.\nNever promise a time.")
    expect(page.locator(".editor-gutter")).to_have_text("1\n2\n3")
    page.fill("#id_note", "Customers found v1 stiff")
    page.get_by_role("button", name="Save as a new version").click()

    expect(page.locator("#toasts")).to_contain_text("Saved version 2")
    versions = page.get_by_test_id("versions")
    expect(versions.locator("li").first).to_contain_text("active")
    expect(versions).to_contain_text("Customers found v1 stiff")
    diff = page.get_by_test_id("diff")
    expect(diff.locator(".diff-removed")).to_contain_text("Be polite.")
    expect(diff.locator(".diff-added")).to_have_count(2)
    expect(diff.locator(".diff-same")).to_contain_text("Sign as Courier.")

    # Compare the other way round: swapped live.
    page.locator("select[name=a]").select_option("2")
    page.locator("select[name=b]").select_option("1")
    swapped = page.get_by_test_id("diff")
    expect(swapped.locator("thead")).to_contain_text("v2v1")
    expect(swapped.locator(".diff-added .diff-text")).to_have_text("+ Be polite.")

    page.get_by_test_id("activate-1").click()
    expect(page.locator("#toasts")).to_contain_text("Version 1 is active")
    first_version = page.get_by_test_id("versions").locator("li").nth(1)
    expect(first_version).to_contain_text("v1")
    expect(first_version).to_contain_text("active")
    served = client_for(agent).get("/api/v1/agent").json()
    assert (served["prompt_version"], served["system_prompt"]) == (
        1,
        "Be polite.\nSign as Courier.",
    )


def test_staff_reject_with_the_keyboard_and_approve_a_selection_together(
    staff_page, alice, admin_user
):
    agent = make_agent("Be kind.")
    colleagues, *ids = [
        perform(agent, "send_sms", {"contact_id": str(alice.pk), "message": text}).body[
            "approval_id"
        ]
        for text in ("Earlier", "Text 0", "Text 1", "Text 2")
    ]
    page = staff_page
    page.goto("/approvals/")
    newest = page.locator(f"#approval-{ids[2]}")
    expect(newest).to_be_visible()
    expect(page.get_by_test_id("recent-decisions")).to_be_hidden()

    # A colleague decides one on their own page: it leaves this queue for "Recently decided".
    reject(request_id=colleagues, user=admin_user, note="Sent by phone")
    expect(page.locator(f"#approval-{colleagues}")).to_have_count(0)
    expect(page.locator(f"#decided-{colleagues}")).to_contain_text("Sent by phone")

    # From here on the page's own decisions reach "Recently decided" with their answers, not
    # with a later poll: polls fail from now on.
    page.route("**/approvals/poll/**", lambda route: route.abort())

    page.keyboard.press("j")  # the newest, at the top
    page.keyboard.press("r")
    expect(newest.locator("[data-reject-reason]")).to_be_focused()
    page.keyboard.type("Too many texts today")
    page.keyboard.press("Enter")
    expect(newest).to_have_count(0)
    expect(page.locator(f"#decided-{ids[2]}")).to_contain_text("Too many texts today")

    # The next request is current now: select it and the last one, approve both at once.
    expect(page.locator(f"#approval-{ids[1]}")).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("x")
    page.keyboard.press("e")  # and fix its text before approving it with the other
    page.keyboard.press("Control+a")
    page.keyboard.type("Text 1, fixed")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.get_by_role("button", name="Approve selected").click()
    expect(page.locator("#toasts")).to_contain_text("Approved 2 request(s).")
    expect(page.locator("#queue-empty")).to_be_visible()
    decided = page.get_by_test_id("recent-decisions").locator("tbody tr")
    expect(decided).to_have_count(4)
    expect(page.locator(f"#decided-{ids[0]}")).to_contain_text("Executed")
    statuses = dict(ApprovalRequest.objects.values_list("pk", "status"))
    assert statuses == {
        colleagues: "rejected",
        ids[0]: "executed",
        ids[1]: "executed",
        ids[2]: "rejected",
    }
    assert ApprovalRequest.objects.get(pk=ids[2]).decision_note == "Too many texts today"
    assert sorted(Message.objects.values_list("text", flat=True)) == ["Text 0", "Text 1, fixed"]


def test_the_activity_feed_fills_in_an_action_that_committed_late_in_its_place(staff_page):
    agent, _ = create_agent(
        actor=Actor.system("tests"), name="scout", mode="monitored", scopes=["contacts:write"]
    )
    perform(agent, "create_list", {"name": "Shown"})
    perform(agent, "create_list", {"name": "Slow"})
    # The slow action's transaction holds its id but has not committed yet.
    slow = AgentAction.objects.order_by("id").last()
    AgentAction.objects.filter(pk=slow.pk).delete()
    perform(agent, "create_list", {"name": "Quick"})
    page = staff_page
    page.goto("/activity/")
    rows = page.locator("#feed-rows tr")
    expect(rows).to_have_count(2)

    perform(agent, "create_list", {"name": "Newer"})
    perform(agent, "create_list", {"name": "Newest"})
    slow.save(force_insert=True)
    expect(rows).to_have_count(5)
    newest_first = [
        f"action-{pk}" for pk in AgentAction.objects.order_by("-id").values_list("pk", flat=True)
    ]
    assert rows.evaluate_all("rows => rows.map(row => row.id)") == newest_first
    for _ in range(2):  # later polls add nothing twice
        with page.expect_response(lambda response: "/activity/poll/" in response.url):
            pass
    expect(rows).to_have_count(5)


def wait_for(page, held: list, timeout: float = 10) -> None:
    """Until a handler has added to ``held`` (handlers run only while Playwright waits)."""
    deadline = time.monotonic() + timeout
    while not held:
        assert time.monotonic() < deadline, "nothing came"
        page.wait_for_timeout(50)


def test_the_activity_feed_drops_its_empty_message_and_the_rows_of_a_filter_left_behind(
    staff_page,
):
    scout, other = (
        create_agent(actor=Actor.system("tests"), name=name, mode="monitored",
                     scopes=["contacts:write"])[0]
        for name in ("scout", "other")
    )  # fmt: skip
    page = staff_page
    page.goto("/activity/")
    empty, rows = page.locator("#feed-empty"), page.locator("#feed-rows tr")
    expect(empty).to_be_visible()

    perform(scout, "create_list", {"name": "First"})
    expect(rows).to_have_count(1)
    expect(empty).to_be_hidden()

    # Staff pick the other agent while a poll of the unfiltered feed is on its way (both
    # requests are held here): the poll is aborted, so its answer cannot land anywhere.
    sent: list = []
    aborted: list = []
    page.on("request", lambda r: sent.append(r) if "/activity/poll/" in r.url else None)
    page.on("requestfailed", lambda r: aborted.append(r) if "/activity/poll/" in r.url else None)
    polls: list = []
    filtering: list = []
    page.route("**/activity/poll/**", lambda route: polls.append(route))
    page.route(re.compile(r"/activity/\?"), lambda route: filtering.append(route))
    perform(scout, "create_list", {"name": "Second"})
    wait_for(page, polls)
    page.select_option("#id_agent", str(other.pk))
    wait_for(page, filtering)
    wait_for(page, aborted)
    # Nor does the old poller send another while the filtered page is on its way.
    polled = len(sent)
    page.wait_for_timeout(3500)
    assert len(sent) == polled
    for route in [*polls, *filtering]:
        route.continue_()
    page.unroute("**/activity/poll/**")
    page.unroute(re.compile(r"/activity/\?"))
    expect(empty).to_be_visible()
    expect(rows).to_have_count(0)
    with page.expect_response(lambda r: "/activity/poll/" in r.url and "agent=" in r.url):
        pass
    expect(rows).to_have_count(0)
    perform(other, "create_list", {"name": "Theirs"})
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("other")
    expect(empty).to_be_hidden()


def test_a_bulk_decision_leaves_a_text_being_edited_on_another_request_as_it_is(staff_page, alice):
    agent = make_agent("Be kind.")
    editing, other = [
        perform(agent, "send_sms", {"contact_id": str(alice.pk), "message": text}).body[
            "approval_id"
        ]
        for text in ("Hi Alice", "Spam")
    ]
    page = staff_page
    page.goto("/approvals/")
    text = page.get_by_label(f"Text of request #{editing}")
    text.fill("Hi Alice, your parcel arrives at noon.")
    page.get_by_label(f"Select request #{other}").check()
    page.get_by_role("button", name="Reject selected").click()

    expect(page.locator("#toasts")).to_contain_text("Rejected 1 request(s).")
    expect(page.locator(f"#approval-{other}")).to_have_count(0)
    expect(page.locator(f"#decided-{other}")).to_contain_text("Rejected")
    expect(text).to_have_value("Hi Alice, your parcel arrives at noon.")
    assert ApprovalRequest.objects.get(pk=editing).status == "pending"
