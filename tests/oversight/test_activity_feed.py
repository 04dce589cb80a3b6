"""The activity feed of agent actions, its filters and live updates, flags; agent texts."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.urls import reverse

from dashboard.actors import Actor
from dashboard.agents.models import ActionFlag, AgentAction
from dashboard.agents.pipeline import approve, perform
from dashboard.agents.services import save_prompt_version
from dashboard.mcp import tools
from dashboard.models import AuditEntry
from sms.models import Message

pytestmark = pytest.mark.django_db

FEED = reverse("activity:feed")
POLL = reverse("activity:poll")


def poller_values(page: str) -> dict[str, str]:
    """What the page's poller sends on its next poll, as htmx would: the filters in its URL
    and its cursor."""
    poller = re.search(r'<div id="feed-poll"[^>]*>', page).group(0)
    url = html.unescape(re.search(r'hx-get="([^"]*)"', poller).group(1))
    assert urlsplit(url).path == POLL
    cursor = json.loads(re.search(r"hx-vals='([^']*)'", poller).group(1))
    return dict(parse_qsl(urlsplit(url).query)) | cursor


def row_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="action-(\d+)"', html)]


def still_uncommitted(action: AgentAction) -> AgentAction:
    """Hide an action as if its transaction had taken its id but not committed yet; saving
    the returned instance commits it."""
    AgentAction.objects.filter(pk=action.pk).delete()
    return action


def test_the_feed_lists_actions_with_agent_outcome_and_a_link_to_the_contact(
    staff_client, monitored_agent
):
    outcome = perform(
        monitored_agent, "upsert_contact", {"email": "ann@example.com"}, reason="New lead"
    )
    perform(monitored_agent, "upsert_contact", {"email": "not-an-email"})
    page = staff_client.get(FEED).content.decode()
    assert "monitored-mo" in page and "upsert_contact" in page
    assert reverse("contacts:detail", args=[outcome.body["id"]]) in page
    assert "“New lead”" in page
    assert "Done" in page and "Failed" in page and "is not a valid email address" in page


def test_the_feed_names_who_each_action_was_about(staff_client, monitored_agent):
    outcome = perform(monitored_agent, "upsert_contact", {"email": "Ann@Example.com"})
    perform(monitored_agent, "upsert_contact", {"email": "lee@example.com", "phone": "12"})
    page = staff_client.get(FEED).content.decode()
    link = reverse("contacts:detail", args=[outcome.body["id"]])
    assert f'<a href="{link}">ann@example.com</a>' in page  # as stored, not as sent
    # A refused upsert made no contact: the address the agent tried is still shown.
    assert '<span class="mono small">lee@example.com</span>' in page


def test_an_action_refused_for_a_malformed_contact_id_does_not_break_the_feed(
    staff_client, monitored_agent
):
    # An MCP tool passes the model's contact_id as it came; the refused action is recorded
    # with it, and the feed (and its poll) must still draw, naming what the agent sent.
    refused = tools.call(monitored_agent, "untag_contact", {"contact_id": "Ann Lee", "tag": "VIP"})
    assert refused.status == 404

    response = staff_client.get(FEED)

    assert response.status_code == 200
    page = response.content.decode()
    assert "untag_contact" in page and "There is no contact with id Ann Lee." in page
    assert '<span class="mono small">Ann Lee</span>' in page
    assert staff_client.get(POLL).status_code == 200


def test_the_feed_filters_by_agent_action_and_outcome(
    staff_client, monitored_agent, autonomous_agent
):
    perform(monitored_agent, "create_list", {"name": "Mo's list"})
    perform(autonomous_agent, "create_list", {"name": "Ava's list"})
    perform(autonomous_agent, "upsert_contact", {"email": "bad"})
    page = staff_client.get(FEED, {"agent": autonomous_agent.pk}).content.decode()
    assert page.count("data-action-row") == 2 and "monitored-mo</a>" not in page
    failed = staff_client.get(FEED, {"outcome": "failed"}).content.decode()
    assert failed.count("data-action-row") == 1
    lists = staff_client.get(FEED, {"action": "create_list"}).content.decode()
    assert lists.count("data-action-row") == 2


def test_the_feed_filters_are_named_for_screen_readers(staff_client):
    page = staff_client.get(reverse("activity:feed")).content.decode()
    for name in ("Agent", "Action", "Outcome"):
        assert f'aria-label="{name}"' in page


def test_the_feed_page_does_not_grow_its_queries_with_the_actions(
    staff_client, monitored_agent, django_assert_max_num_queries
):
    for n in range(10):
        perform(monitored_agent, "create_list", {"name": f"List {n}"})
    with django_assert_max_num_queries(12):
        assert staff_client.get(FEED).status_code == 200


@pytest.mark.parametrize("after, seen", [("²", "1"), ("5", "²-³,1")])
def test_a_poll_with_digits_of_other_scripts_is_an_update_not_an_error_page(
    staff_client, after, seen
):
    assert staff_client.get(POLL, {"after": after, "seen": seen}).status_code == 200


def test_polling_brings_only_the_actions_newer_than_the_last_one_shown(
    staff_client, monitored_agent
):
    perform(monitored_agent, "create_list", {"name": "Seen"})
    seen = AgentAction.objects.get().pk
    perform(monitored_agent, "create_list", {"name": "Fresh"})
    fresh = AgentAction.objects.first().pk
    page = staff_client.get(reverse("activity:poll"), {"after": seen}).content.decode()
    assert f'id="action-{fresh}"' in page and f'id="action-{seen}"' not in page
    assert f'"after": "{fresh}"' in page  # the poller moves on


@pytest.mark.parametrize("after", [2**63, 2**63 + 150, 10**30])
def test_a_poll_past_any_possible_id_is_an_empty_update(staff_client, monitored_agent, after):
    # SQLite raised OverflowError on ids beyond its 64-bit integers: a server error.
    perform(monitored_agent, "create_list", {"name": "Seen"})
    response = staff_client.get(
        reverse("activity:poll"), {"after": str(after), "seen": f"{after - 5}-{after}"}
    )
    assert response.status_code == 200
    assert 'id="action-' not in response.content.decode()


def test_polling_puts_several_new_actions_on_top_newest_first(staff_client, monitored_agent):
    perform(monitored_agent, "create_list", {"name": "Seen"})
    page = staff_client.get(FEED).content.decode()
    perform(monitored_agent, "create_list", {"name": "Second"})
    perform(monitored_agent, "create_list", {"name": "Third"})
    second, third = AgentAction.objects.order_by("id")[1:]
    polled = staff_client.get(POLL, poller_values(page)).content.decode()
    top = polled.split('hx-swap-oob="afterbegin:#feed-rows"')[1]
    assert top.index(f'id="action-{third.pk}"') < top.index(f'id="action-{second.pk}"')


def test_polling_shows_an_action_that_committed_after_a_newer_one_once(
    staff_client, monitored_agent, django_assert_max_num_queries
):
    # Two web processes: the slow one took its id first but commits after the quick one.
    perform(monitored_agent, "create_list", {"name": "Slow"})
    slow = still_uncommitted(AgentAction.objects.get())
    perform(monitored_agent, "create_list", {"name": "Quick"})
    quick = AgentAction.objects.get()
    page = staff_client.get(FEED).content.decode()
    assert poller_values(page)["after"] == str(quick.pk) > str(slow.pk)

    slow.save(force_insert=True)
    # The actions and their flags; the rest is the session, the user and their groups.
    with django_assert_max_num_queries(5):
        polled = staff_client.get(POLL, poller_values(page)).content.decode()
    assert polled.count(f'id="action-{slow.pk}"') == 1
    # Under the newer row, where a reload would put it; the row shown already is not resent.
    assert f'hx-swap-oob="afterend:#action-{quick.pk}"' in polled
    assert f'id="action-{quick.pk}"' not in polled
    again = staff_client.get(POLL, poller_values(polled)).content.decode()
    assert "data-action-row" not in again


def test_a_late_action_arriving_with_newer_ones_goes_under_the_next_newer_row(
    staff_client, monitored_agent
):
    perform(monitored_agent, "create_list", {"name": "Shown"})
    perform(monitored_agent, "create_list", {"name": "Slow"})
    slow = still_uncommitted(AgentAction.objects.first())
    perform(monitored_agent, "create_list", {"name": "Quick"})
    shown, quick = AgentAction.objects.order_by("id")
    page = staff_client.get(FEED, {"agent": monitored_agent.pk}).content.decode()
    perform(monitored_agent, "create_list", {"name": "Newest"})
    slow.save(force_insert=True)
    polled = staff_client.get(POLL, poller_values(page) | {"agent": monitored_agent.pk})
    html = polled.content.decode()
    newest = AgentAction.objects.first()
    assert [int(pk) for pk in re.findall(r'<tr id="action-(\d+)"', html)] == [newest.pk, slow.pk]
    assert f'hx-swap-oob="afterend:#action-{quick.pk}"' in html
    assert f'id="action-{shown.pk}"' not in html


def test_a_poll_runs_none_of_the_navigations_queries(
    staff_client, monitored_agent, gated_agent, ask_to_send, django_assert_num_queries
):
    ask_to_send(gated_agent)  # the navigation's badge has something to count
    page = staff_client.get(FEED).content.decode()
    assert 'title="Requests waiting for approval">1</span>' in page
    perform(monitored_agent, "create_list", {"name": "Fresh"})
    # Session, user, their groups, the actions and their flags: a poll draws no navigation,
    # so the badge's COUNT of pending approvals is never run.
    with django_assert_num_queries(5) as queries:
        polled = staff_client.get(POLL, poller_values(page)).content.decode()
    assert len(row_ids(polled)) == 1
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_the_empty_message_leaves_when_the_first_action_arrives(staff_client, monitored_agent):
    page = staff_client.get(FEED).content.decode()
    assert '<p id="feed-empty" class="empty">No agent action matches yet.</p>' in page
    perform(monitored_agent, "create_list", {"name": "First"})
    polled = staff_client.get(POLL, poller_values(page)).content.decode()
    assert len(row_ids(polled)) == 1
    assert '<p id="feed-empty" class="empty" hx-swap-oob="true" hidden>' in polled
    # Nothing new: the message is left as it is (hidden by now).
    assert "feed-empty" not in staff_client.get(POLL, poller_values(polled)).content.decode()
    again = staff_client.get(FEED).content.decode()
    assert '<p id="feed-empty" class="empty" hidden>' in again


def test_a_poll_keeps_to_the_filters_its_page_was_drawn_for(
    staff_client, monitored_agent, autonomous_agent
):
    perform(monitored_agent, "create_list", {"name": "Shown"})
    page = staff_client.get(FEED, {"agent": monitored_agent.pk, "outcome": ""}).content.decode()
    # The poller carries its filters itself, rather than reading the form when it fires (by
    # then the form may be set to other filters, for which its cursor means nothing); and a
    # poll in flight when the form sends its request is aborted.
    assert 'hx-include="#feed-filter"' not in page
    assert 'hx-sync="#feed-filter:abort"' in page
    assert poller_values(page)["agent"] == str(monitored_agent.pk)
    assert "outcome" not in poller_values(page)
    perform(autonomous_agent, "create_list", {"name": "Someone else's"})
    perform(monitored_agent, "create_list", {"name": "Mine"})
    mine = AgentAction.objects.filter(agent=monitored_agent).first()
    polled = staff_client.get(POLL, poller_values(page)).content.decode()
    assert row_ids(polled) == [mine.pk]
    assert poller_values(polled)["agent"] == str(monitored_agent.pk)


def test_polling_leaves_the_actions_of_older_pages_to_those_pages(
    staff_client, monitored_agent, monkeypatch
):
    from dashboard.activity import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for name in ("Page two", "Page one", "Top"):
        perform(monitored_agent, "create_list", {"name": name})
    page_two = AgentAction.objects.last()
    page = staff_client.get(FEED).content.decode()
    assert f'id="action-{page_two.pk}"' not in page
    polled = staff_client.get(POLL, poller_values(page)).content.decode()
    assert "data-action-row" not in polled


def test_staff_flag_an_action_for_review_with_a_comment(htmx_client, staff_user, monitored_agent):
    perform(monitored_agent, "create_list", {"name": "Odd"})
    action = AgentAction.objects.get()
    response = htmx_client.post(
        reverse("activity:flag", args=[action.pk]), {"comment": "Why this list?"}
    )
    assert "Why this list?" in response.content.decode()
    flag = ActionFlag.objects.get()
    assert (flag.agent_action, flag.flagged_by, flag.comment) == (
        action,
        staff_user,
        "Why this list?",
    )
    assert AuditEntry.objects.filter(action="agent_action.flag").exists()
    flagged = htmx_client.get(FEED, {"flagged": "on"}).content.decode()
    assert flagged.count("data-action-row") == 1


def test_a_reviewed_flag_leaves_the_flagged_filter(htmx_client, staff_user, monitored_agent):
    perform(monitored_agent, "create_list", {"name": "Odd"})
    action = AgentAction.objects.get()
    htmx_client.post(reverse("activity:flag", args=[action.pk]), {"comment": "Why this list?"})
    flag = ActionFlag.objects.get()
    response = htmx_client.post(reverse("activity:resolve", args=[flag.pk]))
    assert "reviewed" in response.content.decode()
    assert "Marked as reviewed." in response["HX-Trigger"]
    flag.refresh_from_db()
    assert flag.resolved_at is not None
    assert "data-action-row" not in htmx_client.get(FEED, {"flagged": "on"}).content.decode()
    again = htmx_client.post(reverse("activity:resolve", args=[flag.pk]))
    assert "already marked" in again["HX-Trigger"]
    assert AuditEntry.objects.filter(action="agent_action.flag_resolve").count() == 1


def test_a_flag_without_a_comment_asks_for_one(htmx_client, monitored_agent):
    perform(monitored_agent, "create_list", {"name": "Odd"})
    action = AgentAction.objects.get()
    response = htmx_client.post(reverse("activity:flag", args=[action.pk]), {"comment": "  "})
    assert "This field is required." in response.content.decode()
    assert not ActionFlag.objects.exists()


def test_agent_texts_show_the_agent_prompt_version_and_who_approved(
    staff_client, staff_user, make_agent, funded, contact
):
    agent = make_agent("courier", mode="gated", prompt="Be kind.")
    outcome = perform(
        agent, "send_sms", {"contact_id": str(contact.pk), "message": "Hi"}, reason="ETA"
    )
    approve(request_id=outcome.body["approval_id"], user=staff_user, edited_text="Hello")
    version = agent.prompt_versions.get()
    page = staff_client.get(reverse("agents:messages"), {"version": version.pk}).content.decode()
    assert "courier" in page and ">v1</a>" in page
    assert "approved by sam" in page and "edited" in page and "“ETA”" in page
    assert Message.objects.get().text == "Hello"
    other = staff_client.get(reverse("agents:messages"), {"status": "delivered"}).content.decode()
    assert "No text from an agent matches." in other


def test_texts_of_an_approved_agent_campaign_say_who_approved_the_campaign(
    staff_client, staff_user, make_agent, funded, contact
):
    from contacts.models import ContactTag, Tag
    from sms.campaigns.models import Campaign
    from tests.campaigns.conftest import drive

    vip = Tag.objects.create(name="VIP")
    ContactTag.objects.create(contact=contact, tag=vip)
    agent = make_agent("courier", mode="gated")
    outcome = perform(agent, "start_campaign", {
        "message": "Hi", "audience_kind": "tag", "audience_id": vip.pk, "kind": "transactional",
    }, reason="Launch")  # fmt: skip
    approve(request_id=outcome.body["approval_id"], user=staff_user)
    campaign = drive(Campaign.objects.get())
    page = staff_client.get(reverse("agents:messages")).content.decode()
    assert Message.objects.filter(campaign_id=campaign.pk).count() == 1
    assert f'approved by sam <a href="/campaigns/{campaign.pk}/">as campaign' in page
    assert "not gated" not in page


def test_an_agent_text_names_its_prompt_version_by_number(
    staff_client, make_agent, funded, contact
):
    make_agent("first", prompt="One.")  # so the version's row id is not its number
    agent = make_agent("courier", mode="autonomous", prompt="Be kind.")
    save_prompt_version(actor=Actor.system("tests"), agent=agent, text="Be kinder.", note="v2")
    outcome = perform(agent, "send_sms", {"contact_id": str(contact.pk), "message": "Hi"})
    message = Message.objects.get(pk=outcome.body["id"])
    version = agent.prompt_versions.get(number=2)
    assert message.prompt_version_id == version.pk != 2
    page = staff_client.get(reverse("sms:message", args=[message.pk])).content.decode()
    assert (
        f'data-testid="prompt-version"><a href="/agents/{agent.pk}/prompt/?version=2">v2</a>'
        in page
    )


def test_a_filter_that_no_longer_applies_is_named_and_the_others_still_filter(
    staff_client, monitored_agent, autonomous_agent
):
    perform(monitored_agent, "create_list", {"name": "Mo's list"})
    perform(autonomous_agent, "create_list", {"name": "Ava's list"})
    perform(autonomous_agent, "upsert_contact", {"email": "bad"})
    # A bookmarked link to an agent deleted since, with a filter that still holds.
    page = staff_client.get(FEED, {"agent": 999_999, "outcome": "failed"}).content.decode()
    assert page.count("data-action-row") == 1  # not everything
    assert 'data-testid="filter-errors"' in page and "Not filtered by agent" in page


def _agent_text(agent, status: str, n: int) -> Message:
    return Message.objects.create(
        idempotency_key=f"text-{agent.pk}-{n}", to="+447700900001", country="GB", text=f"Text {n}",
        kind="transactional", encoding="GSM-7", segments=1, price=1, status=status,
        gateway="sandbox", actor_kind="agent", actor_ref=str(agent.pk), actor_label=agent.name,
    )  # fmt: skip


def test_agent_texts_with_a_stale_filter_name_it_and_keep_the_others(
    staff_client, monitored_agent, autonomous_agent
):
    _agent_text(monitored_agent, "delivered", 1)
    _agent_text(autonomous_agent, "failed", 2)
    # A bookmarked link to an agent deleted since, with a status filter that still holds.
    page = staff_client.get(
        reverse("agents:messages"), {"agent": 999_999, "status": "failed"}
    ).content.decode()
    assert "Text 2" in page and "Text 1" not in page
    assert 'data-testid="filter-errors"' in page and "Not filtered by agent" in page
    assert 'aria-label="Prompt version"' in page


def test_an_approved_text_to_a_contact_erased_since_still_says_who_approved_it(
    staff_client, staff_user, make_agent, funded, contact
):
    from contacts.services.erasure import erase_contact

    agent = make_agent("courier", mode="gated", prompt="Be kind.")
    outcome = perform(
        agent, "send_sms", {"contact_id": str(contact.pk), "message": "Hi"}, reason="ETA"
    )
    approve(request_id=outcome.body["approval_id"], user=staff_user)
    phone = Message.objects.get().to
    erase_contact(actor=Actor.staff(staff_user), contact=contact)
    page = staff_client.get(reverse("agents:messages")).content.decode()
    assert "approved by sam" in page and "not gated" not in page
    assert phone not in page and str(contact.pk) not in page
    assert "erased contact" in page  # not a blank "To" cell


def test_the_prompt_version_filter_names_each_version_by_agent_and_number(staff_client, make_agent):
    make_agent("first", prompt="One.")  # so the agent's row id is not the only agent's
    agent = make_agent("courier", prompt="Be kind.")
    version = agent.prompt_versions.get()
    page = staff_client.get(reverse("agents:messages")).content.decode()
    assert f'<option value="{version.pk}">courier · v1</option>' in page
