"""contacts.services.lists: lists with an optional limit, and their members."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from contacts.models import ContactList, ListMembership
from contacts.services import lists as list_service
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from tests.contacts.helpers import history_kinds, last_audit

pytestmark = pytest.mark.django_db


def test_it_creates_a_list_and_audits_it(staff_actor, staff_user):
    contact_list = list_service.create_list(
        actor=staff_actor, name="  Spring   launch ", limit=100, description="Beta testers"
    )

    assert (contact_list.name, contact_list.limit) == ("Spring launch", 100)
    assert contact_list.description == "Beta testers"
    entry = AuditEntry.objects.get(action="list.create")
    assert entry.actor_user == staff_user
    assert entry.changes == {"name": [None, "Spring launch"], "limit": [None, 100]}


@pytest.mark.parametrize(
    ("name", "limit", "field"),
    [("", None, "name"), ("x" * 101, None, "name"), ("Ok", 0, "limit"), ("Ok", 2**31, "limit")],
)
def test_it_refuses_an_invalid_list(staff_actor, name, limit, field):
    with pytest.raises(SwitchboardError) as caught:
        list_service.create_list(actor=staff_actor, name=name, limit=limit)

    assert (caught.value.code, caught.value.field) == ("invalid_list", field)
    assert not ContactList.objects.exists()


def test_get_list_accepts_an_id_or_its_text_and_answers_unknown_list(staff_actor):
    contact_list = list_service.create_list(actor=staff_actor, name="VIP")

    assert list_service.get_list(contact_list.pk) == contact_list
    assert list_service.get_list(str(contact_list.pk)) == contact_list
    for bad in (contact_list.pk + 1, "abc", None):
        with pytest.raises(SwitchboardError) as caught:
            list_service.get_list(bad)
        assert caught.value.code == "unknown_list"


def test_it_updates_a_list_and_audits_the_changes(staff_actor):
    contact_list = list_service.create_list(actor=staff_actor, name="VIP", limit=10)

    list_service.update_list(actor=staff_actor, contact_list=contact_list, name="VIPs", limit=None)

    contact_list.refresh_from_db()
    assert (contact_list.name, contact_list.limit) == ("VIPs", None)
    entry = AuditEntry.objects.get(action="list.update")
    assert entry.changes == {"name": ["VIP", "VIPs"], "limit": [10, None]}


def test_a_limit_below_the_current_members_is_refused(staff_actor, make_contact):
    contact_list = list_service.create_list(actor=staff_actor, name="VIP", limit=5)
    for _ in range(3):
        list_service.add_to_list(
            actor=staff_actor, contact=make_contact(), contact_list=contact_list
        )

    with pytest.raises(SwitchboardError) as caught:
        list_service.update_list(actor=staff_actor, contact_list=contact_list, name="VIP", limit=2)

    assert (caught.value.code, caught.value.field) == ("list_full", "limit")
    assert "3 contacts" in caught.value.message
    contact_list.refresh_from_db()
    assert contact_list.limit == 5


def test_deleting_a_list_keeps_its_contacts(staff_actor, make_contact):
    contact = make_contact()
    contact_list = list_service.create_list(actor=staff_actor, name="VIP")
    list_service.add_to_list(actor=staff_actor, contact=contact, contact_list=contact_list)

    list_service.delete_list(actor=staff_actor, contact_list=contact_list)

    assert not ContactList.objects.exists()
    contact.refresh_from_db()
    entry = AuditEntry.objects.get(action="list.delete")
    assert entry.changes == {"name": ["VIP", None], "contacts": [1, 0]}


def test_adding_to_a_list_records_it(staff_actor, staff_user, make_contact):
    contact = make_contact()
    contact_list = list_service.create_list(actor=staff_actor, name="VIP")

    assert list_service.add_to_list(actor=staff_actor, contact=contact, contact_list=contact_list)
    assert not list_service.add_to_list(
        actor=staff_actor, contact=contact, contact_list=contact_list
    ), "adding twice is harmless"

    assert list(contact.lists.all()) == [contact_list]
    entry = last_audit(contact)
    assert (entry.action, entry.actor_user) == ("contact.list_add", staff_user)
    assert entry.changes == {"lists": [None, "VIP"]}
    assert history_kinds(contact)[-1] == "list_added"
    assert AuditEntry.objects.filter(action="contact.list_add").count() == 1


def test_a_full_list_refuses_another_contact(staff_actor, make_contact):
    contact_list = list_service.create_list(actor=staff_actor, name="Pilot", limit=2)
    members = [make_contact(), make_contact()]
    for member in members:
        list_service.add_to_list(actor=staff_actor, contact=member, contact_list=contact_list)
    late = make_contact()

    with pytest.raises(SwitchboardError) as caught:
        list_service.add_to_list(actor=staff_actor, contact=late, contact_list=contact_list)

    assert caught.value.code == "list_full"
    assert caught.value.details == {"list_id": contact_list.pk}
    assert "Pilot" in caught.value.message and "2 contacts" in caught.value.message
    assert not late.lists.exists()
    assert history_kinds(late) == ["created"]
    # A member already in the full list can be "added" again without an error.
    assert not list_service.add_to_list(
        actor=staff_actor, contact=members[0], contact_list=contact_list
    )


def test_removing_from_a_list_records_it(staff_actor, make_contact):
    contact = make_contact()
    contact_list = list_service.create_list(actor=staff_actor, name="VIP", limit=1)
    list_service.add_to_list(actor=staff_actor, contact=contact, contact_list=contact_list)

    assert list_service.remove_from_list(
        actor=staff_actor, contact=contact, contact_list=contact_list
    )
    assert not list_service.remove_from_list(
        actor=staff_actor, contact=contact, contact_list=contact_list
    )

    assert not ListMembership.objects.exists()
    assert last_audit(contact).changes == {"lists": ["VIP", None]}
    assert history_kinds(contact)[-1] == "list_removed"
    # The freed place can be taken again.
    assert list_service.add_to_list(
        actor=staff_actor, contact=make_contact(), contact_list=contact_list
    )


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_sends_of_one_create_form_make_one_list(staff_actor, monkeypatch):
    """Both requests of a double click arrive before either has committed its list."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers; SQLite serialises them")
    after = list_service.newest_list_id()
    real_check = list_service.created_since

    def slow_check(**kwargs):  # the other request would look now, if nothing held it
        found = real_check(**kwargs)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(list_service, "created_since", slow_check)
    start = threading.Barrier(2, timeout=10)
    made: list[int] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            start.wait()
            made.append(
                list_service.create_list(actor=staff_actor, name="Beta", after_list=after).pk
            )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert ContactList.objects.count() == 1
    assert made[0] == made[1]


def test_a_list_deleted_after_it_was_looked_up_is_unknown_not_a_server_error(
    staff_actor, make_contact
):
    # The view or API found the list; a colleague deleted it before the write locked its row.
    contact_list = list_service.create_list(actor=staff_actor, name="Gone soon")
    ContactList.objects.filter(pk=contact_list.pk).delete()
    for write in (
        lambda: list_service.update_list(
            actor=staff_actor, contact_list=contact_list, name="Renamed", limit=None
        ),
        lambda: list_service.add_to_list(
            actor=staff_actor, contact=make_contact(), contact_list=contact_list
        ),
    ):
        with pytest.raises(SwitchboardError) as caught:
            write()
        assert caught.value.code == "unknown_list"
        assert "“Gone soon” no longer exists" in caught.value.message
