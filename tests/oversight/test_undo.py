"""Undo an agent's changes from the audit trail: one action, or everything in a time window."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact, ContactList, ContactTag, ListMembership, Tag
from contacts.services.contacts import create_contact, update_contact
from contacts.services.duplicates import merge_contacts
from contacts.services.lists import add_to_list, update_list
from contacts.services.tags import rename_tag, tag_contact
from dashboard.agents.models import AgentAction
from dashboard.agents.pipeline import perform
from dashboard.agents.undo import (
    entries_for_action,
    messages_for_action,
    plan_undo,
    undo_action,
    undo_window,
)
from dashboard.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(system_actor):
    return create_contact(
        actor=system_actor, email="bob@example.com", first_name="Bob", metadata={"tier": "gold"}
    )


@pytest.fixture
def vip_list(db):
    return ContactList.objects.create(name="VIP")


def upsert(agent, **payload):
    outcome = perform(agent, "upsert_contact", {"upsert": True, **payload})
    assert outcome.ok, outcome.body
    return AgentAction.objects.filter(agent=agent).first()


def test_undoing_one_action_restores_the_values_tags_and_lists_it_changed(
    autonomous_agent, bob, vip_list, staff_actor
):
    action = upsert(
        autonomous_agent,
        email="bob@example.com",
        first_name="Robert",
        metadata={"tier": None, "source": "chat"},
        tags=["VIP"],
        list_ids=[vip_list.pk],
    )
    result = undo_action(actor=staff_actor, action=action)
    assert result.restored == 1 and not result.failed
    bob.refresh_from_db()
    assert bob.first_name == "Bob"
    assert bob.metadata == {"tier": "gold"}
    assert not ContactTag.objects.filter(contact=bob).exists()
    assert not vip_list.memberships.exists()
    assert AuditEntry.objects.filter(action="agent.undo", actor_user=staff_actor.user_id).exists()


def test_undo_touches_only_the_chosen_action(autonomous_agent, bob, staff_actor):
    first = upsert(autonomous_agent, email="bob@example.com", first_name="Robert")
    upsert(autonomous_agent, email="bob@example.com", last_name="Jones")
    plan = plan_undo(entries_for_action(first), messages=messages_for_action(first))
    assert [c.describe() for c in plan.contacts] == [["Restore first_name back to Bob"]]
    # The later action by the same agent changed the contact since: a conflict to confirm.
    assert plan.conflicts[0].changed_by == "autonomous-ava"
    undo_action(actor=staff_actor, action=first, confirm_conflicts=True)
    bob.refresh_from_db()
    assert (bob.first_name, bob.last_name) == ("Bob", "Jones")


def test_undoing_a_time_window_deletes_created_contacts_and_restores_changed_ones(
    autonomous_agent, bob, staff_actor
):
    start = timezone.now()
    upsert(autonomous_agent, email="new@example.com", first_name="New")
    upsert(autonomous_agent, email="bob@example.com", first_name="Robert")
    end = timezone.now() + dt.timedelta(seconds=1)
    result = undo_window(actor=staff_actor, agent=autonomous_agent, start=start, end=end)
    assert (result.deleted, result.restored, result.skipped_conflicts) == (1, 1, 0)
    assert not Contact.objects.filter(email="new@example.com").exists()
    bob.refresh_from_db()
    assert bob.first_name == "Bob"


def test_a_contact_someone_else_changed_since_is_left_alone_unless_confirmed(
    autonomous_agent, bob, staff_actor, staff_client
):
    start = timezone.now()
    upsert(autonomous_agent, email="bob@example.com", first_name="Robert", last_name="Agent")
    update_contact(actor=staff_actor, contact=bob.pk, last_name="Staff")
    end = timezone.now() + dt.timedelta(seconds=1)
    url = reverse("agents:undo_window", args=[autonomous_agent.pk])
    window = {
        "start": timezone.localtime(start).strftime("%Y-%m-%dT%H:%M:%S"),
        "end": timezone.localtime(end).strftime("%Y-%m-%dT%H:%M:%S"),
    }

    preview = staff_client.get(url, window).content.decode()
    assert "conflict" in preview and "by sam" in preview
    assert "Restore first_name back to Bob, last_name back to (empty)" in preview

    staff_client.post(url, window)
    bob.refresh_from_db()
    assert (bob.first_name, bob.last_name) == ("Robert", "Staff")  # left alone

    staff_client.post(url, {**window, "confirm_conflicts": "on"})
    bob.refresh_from_db()
    assert (bob.first_name, bob.last_name) == ("Bob", "")


def test_a_text_sent_to_the_contact_since_is_not_a_change_that_blocks_the_undo(
    autonomous_agent, funded, staff_actor
):
    from sms.services.messages import send_sms

    action = upsert(
        autonomous_agent, email="ann@example.com", phone="+447400123456", first_name="Ann"
    )
    ann = Contact.objects.get(email="ann@example.com")
    send_sms(actor=staff_actor, contact=ann, text="Your order shipped")  # audited as sms.send

    plan = plan_undo(entries_for_action(action), messages=messages_for_action(action))
    assert [item.changed_by for item in plan.contacts] == [""]
    undo_action(actor=staff_actor, action=action)
    assert not Contact.objects.filter(email="ann@example.com").exists()


def test_the_preview_says_sent_texts_cannot_be_unsent(
    autonomous_agent, funded, contact, staff_client
):
    outcome = perform(
        autonomous_agent, "send_sms", {"contact_id": str(contact.pk), "message": "Hello"}
    )
    assert outcome.status == 201
    action = AgentAction.objects.get(action="send_sms")
    page = staff_client.get(reverse("agents:undo_action", args=[action.pk])).content.decode()
    assert "1 text message(s) were sent; they cannot be unsent." in page


def test_undoing_a_single_action_through_the_page(autonomous_agent, bob, staff_client):
    action = upsert(autonomous_agent, email="bob@example.com", first_name="Robert")
    page = staff_client.get(reverse("agents:undo_action", args=[action.pk])).content.decode()
    assert "Restore first_name back to Bob" in page
    response = staff_client.post(reverse("agents:undo_action", args=[action.pk]), follow=True)
    assert "Restored 1 contact(s)" in response.content.decode()
    bob.refresh_from_db()
    assert bob.first_name == "Bob"


def test_a_window_that_ends_before_it_starts_is_refused(autonomous_agent, staff_client):
    response = staff_client.get(
        reverse("agents:undo_window", args=[autonomous_agent.pk]),
        {"start": "2026-11-02T10:00", "end": "2026-11-01T10:00"},
    )
    assert "The end of the window is before its start." in response.content.decode()


def test_a_restore_that_breaks_a_rule_is_reported_and_the_rest_still_undone(
    autonomous_agent, bob, system_actor, staff_actor
):
    start = timezone.now()
    upsert(autonomous_agent, email="bob@example.com", first_name="Robert")
    perform(
        autonomous_agent, "update_contact", {"contact_id": str(bob.pk), "email": "rob@example.com"}
    )
    create_contact(actor=system_actor, email="carol@example.com", first_name="Carol")
    upsert(autonomous_agent, email="carol@example.com", first_name="Caroline")
    # Someone else now holds Bob's old address: his email cannot go back.
    create_contact(actor=system_actor, email="bob@example.com")
    end = timezone.now() + dt.timedelta(seconds=1)
    result = undo_window(
        actor=staff_actor, agent=autonomous_agent, start=start, end=end, confirm_conflicts=True
    )
    assert result.failed and "bob@example.com" in result.failed[0]
    assert Contact.objects.get(email="carol@example.com").first_name == "Carol"
    assert Contact.objects.get(pk=bob.pk).first_name == "Robert"  # its undo rolled back whole


def test_the_window_form_suggests_the_last_hour(autonomous_agent, staff_client):
    page = staff_client.get(reverse("agents:undo_window", args=[autonomous_agent.pk]))
    values = re.findall(r'name="(?:start|end)" value="([^"]+)"', page.content.decode())
    start, end = (dt.datetime.fromisoformat(v) for v in values)  # datetime-local format
    assert end - start == dt.timedelta(hours=1)
    assert start < timezone.localtime().replace(tzinfo=None) < end
    assert 'data-testid="undo-plan"' not in page.content.decode()


def test_undo_takes_the_contact_off_the_list_the_agent_added_them_to_not_a_namesake(
    autonomous_agent, bob, staff_actor
):
    # List names need not be unique: undo must not touch a membership staff made in another
    # list called the same.
    theirs = ContactList.objects.create(name="Newsletter")
    agents = ContactList.objects.create(name="Newsletter")
    add_to_list(actor=staff_actor, contact=bob, contact_list=theirs)
    perform(autonomous_agent, "add_to_list", {"list_id": agents.pk, "contact_ids": [str(bob.pk)]})
    action = AgentAction.objects.get(action="add_to_list")

    result = undo_action(actor=staff_actor, action=action)

    assert result.restored == 1 and not result.failed
    assert list(ListMembership.objects.filter(contact=bob).values_list("list", flat=True)) == [
        theirs.pk
    ]


def test_undo_puts_the_contact_back_on_a_list_renamed_since(autonomous_agent, bob, staff_actor):
    customers = ContactList.objects.create(name="Customers")
    add_to_list(actor=staff_actor, contact=bob, contact_list=customers)
    perform(
        autonomous_agent, "remove_from_list", {"list_id": customers.pk, "contact_id": str(bob.pk)}
    )
    action = AgentAction.objects.get(action="remove_from_list")
    update_list(actor=staff_actor, contact_list=customers, name="Clients", limit=None)

    result = undo_action(actor=staff_actor, action=action)

    assert result.restored == 1 and not result.failed
    assert ListMembership.objects.filter(contact=bob, list=customers).exists()


def test_undo_in_a_window_keeps_each_list_apart_from_its_namesake(
    autonomous_agent, bob, staff_actor
):
    theirs = ContactList.objects.create(name="Newsletter")
    agents = ContactList.objects.create(name="Newsletter")
    add_to_list(actor=staff_actor, contact=bob, contact_list=theirs)
    start = timezone.now() - dt.timedelta(seconds=1)
    upsert(autonomous_agent, email="bob@example.com", list_ids=[agents.pk])

    undo_window(
        actor=staff_actor, agent=autonomous_agent, start=start,
        end=timezone.now() + dt.timedelta(seconds=1),
    )  # fmt: skip

    assert list(ListMembership.objects.filter(contact=bob).values_list("list", flat=True)) == [
        theirs.pk
    ]


def test_undo_takes_off_a_tag_the_agent_added_though_it_was_renamed_since(
    autonomous_agent, bob, staff_actor
):
    perform(autonomous_agent, "tag_contacts", {"tag_name": "VIP", "contact_ids": [str(bob.pk)]})
    action = AgentAction.objects.get(action="tag_contacts")
    rename_tag(actor=staff_actor, tag=Tag.objects.get(name="VIP"), name="Gold")

    result = undo_action(actor=staff_actor, action=action)

    assert result.restored == 1 and not result.failed
    assert not ContactTag.objects.filter(contact=bob).exists()


def test_undo_gives_back_a_removed_tag_under_its_new_name_not_a_new_tag(
    autonomous_agent, bob, staff_actor
):
    tag_contact(actor=staff_actor, contact=bob, tag_name="VIP")
    perform(autonomous_agent, "untag_contact", {"tag_name": "VIP", "contact_id": str(bob.pk)})
    action = AgentAction.objects.get(action="untag_contact")
    gold = rename_tag(actor=staff_actor, tag=Tag.objects.get(name="VIP"), name="Gold")
    rename_tag(actor=staff_actor, tag=gold, name="Platinum")

    undo_action(actor=staff_actor, action=action)

    assert list(Tag.objects.values_list("name", flat=True)) == ["Platinum"]
    assert ContactTag.objects.filter(contact=bob, tag=gold).exists()


def test_undo_never_deletes_the_contact_an_agent_made_contact_was_merged_into(
    autonomous_agent, bob, staff_actor
):
    # The merge moved the agent's "created" entry onto Bob's trail: undoing the creation
    # must not delete Bob, who was there first, even when told to undo conflicts too.
    action = upsert(autonomous_agent, email="robert@example.com", first_name="Robert")
    merge_contacts(actor=staff_actor, survivor=bob, duplicate=action.response_body["id"])

    plan = plan_undo(entries_for_action(action), messages=messages_for_action(action))
    result = undo_action(actor=staff_actor, action=action, confirm_conflicts=True)

    assert not any(item.deletes for item in plan.contacts)
    assert any("merged into bob@example.com" in line for line in plan.left_as_is)
    assert result.deleted == 0
    assert Contact.objects.filter(pk=bob.pk).exists()


def test_undo_never_deletes_a_contact_an_older_one_was_merged_into_since(
    autonomous_agent, bob, staff_actor
):
    # Bob's history now lives on the contact the agent created: deleting it would delete Bob.
    action = upsert(autonomous_agent, email="robert@example.com", first_name="Robert")
    merge_contacts(actor=staff_actor, survivor=action.response_body["id"], duplicate=bob)

    plan = plan_undo(entries_for_action(action), messages=messages_for_action(action))
    result = undo_action(actor=staff_actor, action=action, confirm_conflicts=True)

    assert not any(item.deletes for item in plan.contacts)
    assert any("older contact was merged into it" in line for line in plan.left_as_is)
    assert result.deleted == 0
    assert Contact.objects.filter(pk=action.response_body["id"]).exists()
