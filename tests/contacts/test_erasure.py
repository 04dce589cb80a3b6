"""Erasure: one call, and afterwards no table anywhere holds the person in clear text."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.urls import reverse

from contacts.models import Contact, ContactList, DismissedDuplicate, Field, Segment, Suppression
from contacts.services import contacts as contact_service
from contacts.services import segments as segment_service
from contacts.services.duplicates import (
    NOT_DUPLICATE,
    dismiss_duplicate,
    find_duplicates,
    merge_contacts,
    undo_dismissal,
)
from contacts.services.erasure import ErasureSubject, _scrubbers, erase_contact, register_scrubber
from contacts.services.history import record_event
from contacts.services.suppression import suppression_reason
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL, OLD_EMAIL = "wilhelmina.quackenbush@example.com", "w.quackenbush@oldmail.example"
PHONE, FIRST, LAST = "+447400123456", "Wilhelmina", "Quackenbush"


def every_cell_containing(*needles: str) -> list[str]:
    """Scan every column of every table in the database for the needles (case-insensitive)."""
    hits = []
    lowered = [n.lower() for n in needles]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            columns = [col[0] for col in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    text = (
                        bytes(value).decode("utf-8", "replace")
                        if isinstance(value, bytes | memoryview)
                        else str(value)
                    ).lower()
                    hits += [f"{table}.{column}: {n}" for n in lowered if n in text]
    return hits


@pytest.fixture
def person(system_actor, staff_actor):
    """A contact with a long history: edits, tags, lists, fields, metadata, events and a merge."""
    Field.objects.create(name="nickname", type="text")
    newsletter = contact_service_list = ContactList.objects.create(name="Newsletter")
    contact = contact_service.create_contact(
        actor=system_actor, email=OLD_EMAIL, phone=PHONE, first_name=FIRST, last_name=LAST,
        metadata={"crm": {"name": f"{FIRST} {LAST}"}}, fields={"nickname": FIRST},
        tags=["VIP"], list_ids=[newsletter.pk],
    )  # fmt: skip
    contact_service.update_contact(actor=staff_actor, contact=contact, email=EMAIL)
    record_event(actor=system_actor, contact=contact, name="email_opened", params={"to": EMAIL})
    twin = contact_service.create_contact(
        actor=system_actor, email="wq@example.com", first_name=FIRST, last_name=LAST
    )
    merge_contacts(actor=staff_actor, survivor=contact, duplicate=twin)
    assert contact_service_list.contacts.count() == 1
    return Contact.objects.get(pk=contact.pk)


def test_after_erasure_no_table_holds_the_email_phone_or_name(person, staff_actor):
    assert every_cell_containing(EMAIL, PHONE, LAST)  # the scan does find them beforehand

    erase_contact(actor=staff_actor, contact=person)

    assert every_cell_containing(EMAIL, OLD_EMAIL, "wq@example.com", PHONE, FIRST, LAST) == []


def test_erasure_deletes_the_contact_and_everything_hanging_off_it(person, staff_actor):
    erase_contact(actor=staff_actor, contact=person.pk)
    assert not Contact.objects.filter(pk=person.pk).exists()
    assert ContactList.objects.get(name="Newsletter").memberships.count() == 0


@pytest.fixture
def namesake(system_actor):
    """Someone staff marked as not a duplicate of the person."""
    return contact_service.create_contact(
        actor=system_actor, email="other@example.com", first_name="Will"
    )


@pytest.fixture
def bystanders(system_actor):
    """Two look-alikes (one phone) that have nothing to do with the person."""
    return [
        contact_service.create_contact(actor=system_actor, email=f"{n}@acme.example", phone=p)
        for n, p in (("x", "+447400123000"), ("y", "+447400123000"))
    ]


def test_erasure_takes_the_not_a_duplicate_marks_about_the_person_with_it(
    person, namesake, bystanders, staff_actor
):
    dismiss_duplicate(actor=staff_actor, contact=namesake, other=person)
    dismiss_duplicate(actor=staff_actor, contact=bystanders[0], other=bystanders[1])

    erase_contact(actor=staff_actor, contact=person)

    # Only the bystanders' row is left, and no trail (the namesake's included) names the person.
    assert list(DismissedDuplicate.objects.values_list("contact_a_id", "contact_b_id")) == [
        tuple(sorted(c.pk for c in bystanders))
    ]
    assert find_duplicates() == []
    assert every_cell_containing(EMAIL, OLD_EMAIL, PHONE, FIRST, LAST) == []


def test_erasure_takes_the_history_lines_naming_the_person_in_other_contacts_history(
    person, namesake, bystanders, staff_actor, system_actor
):
    dismiss_duplicate(actor=staff_actor, contact=namesake, other=person)
    undo_dismissal(actor=staff_actor, contact=namesake, other=person)
    dismiss_duplicate(actor=staff_actor, contact=bystanders[0], other=bystanders[1])
    # Someone the person was merged with had been marked too: that line names them as well.
    twin = contact_service.create_contact(actor=system_actor, email="w.q@example.com")
    dismiss_duplicate(actor=staff_actor, contact=twin, other=namesake)
    merge_contacts(actor=staff_actor, survivor=person, duplicate=twin)
    assert namesake.interactions.filter(name=NOT_DUPLICATE).count() == 3

    erase_contact(actor=staff_actor, contact=person)

    assert not namesake.interactions.filter(name=NOT_DUPLICATE).exists()
    assert [i.description for i in bystanders[0].interactions.filter(name=NOT_DUPLICATE)] == [
        "Marked as not a duplicate of y@acme.example"
    ]
    assert every_cell_containing(EMAIL, OLD_EMAIL, "w.q@example.com", PHONE, FIRST, LAST) == []


def test_the_person_stays_suppressed_as_a_salted_hash(person, staff_actor, system_actor):
    erase_contact(actor=staff_actor, contact=person)
    assert suppression_reason(email=EMAIL) == "erased"
    assert suppression_reason(phone=PHONE) == "erased"
    # The address they changed from and the merged-in duplicate's: an old export holding
    # either would otherwise bring the person back.
    assert suppression_reason(email=OLD_EMAIL) == suppression_reason(email="wq@example.com")
    assert suppression_reason(email="wq@example.com") == "erased"
    assert Suppression.objects.count() == 4
    for email in (EMAIL, OLD_EMAIL, "wq@example.com"):
        with pytest.raises(SwitchboardError) as caught:
            contact_service.create_contact(actor=system_actor, email=email)
        assert caught.value.code == "suppressed"


def test_a_former_address_or_number_someone_else_holds_now_is_not_suppressed(
    person, staff_actor, system_actor
):
    # The person's old address and old number now belong to other contacts.
    contact_service.create_contact(actor=system_actor, email=OLD_EMAIL)
    contact_service.update_contact(actor=staff_actor, contact=person, phone="+447400555666")
    contact_service.create_contact(actor=system_actor, email="new@example.com", phone=PHONE)

    erase_contact(actor=staff_actor, contact=person)

    assert suppression_reason(email=EMAIL) == suppression_reason(phone="+447400555666")
    assert suppression_reason(email=EMAIL) == "erased"
    assert suppression_reason(email=OLD_EMAIL) is None
    assert suppression_reason(phone=PHONE) is None


def test_the_erasure_is_audited_without_personal_data(person, staff_actor):
    erase_contact(actor=staff_actor, contact=person)
    entry = AuditEntry.objects.get(action="contact.erase")
    assert entry.actor_label == staff_actor.label
    assert entry.object_id == str(person.pk)
    assert entry.object_repr == ""
    # Earlier entries keep who did what and when, but not the values.
    update = AuditEntry.objects.get(contact_id=person.pk, action="contact.update")
    assert update.changes == {"email": [None, None]}


def test_erasing_twice_says_it_was_already_erased(person, staff_actor):
    erase_contact(actor=staff_actor, contact=person)
    with pytest.raises(SwitchboardError) as caught:
        erase_contact(actor=staff_actor, contact=person.pk)
    assert caught.value.code == "already_erased"


def test_a_failing_scrubber_leaves_everything_as_it_was(person, staff_actor):
    def broken(subject: ErasureSubject) -> None:
        raise RuntimeError("message store unavailable")

    register_scrubber(broken)
    try:
        with pytest.raises(RuntimeError):
            erase_contact(actor=staff_actor, contact=person)
    finally:
        _scrubbers.remove(broken)
    assert Contact.objects.filter(pk=person.pk).exists()
    assert not Suppression.objects.exists()
    assert AuditEntry.objects.filter(contact_id=person.pk).exclude(object_repr="").exists()


def test_registered_scrubbers_receive_the_person(person, staff_actor):
    seen: list[ErasureSubject] = []
    register_scrubber(seen.append)
    try:
        erase_contact(actor=staff_actor, contact=person)
    finally:
        _scrubbers.remove(seen.append)
    assert [(s.email, s.phone, s.last_name) for s in seen] == [(EMAIL, PHONE, LAST)]
    # And what the person was known by before: rows written then name them by it.
    assert seen[0].former_emails == {OLD_EMAIL, "wq@example.com"}
    assert seen[0].former_names == {f"{FIRST} {LAST}"} and len(seen[0].merged_ids) == 1


def test_only_admins_see_and_use_the_erase_button(person, staff_client, admin_client):
    url = reverse("contacts:erase", args=[person.pk])
    assert (
        url not in staff_client.get(reverse("contacts:detail", args=[person.pk])).content.decode()
    )
    assert staff_client.post(url).status_code == 403
    assert Contact.objects.filter(pk=person.pk).exists()

    assert url in admin_client.get(reverse("contacts:detail", args=[person.pk])).content.decode()
    response = admin_client.post(url, follow=True)
    assert "was erased" in response.content.decode()
    assert not Contact.objects.filter(pk=person.pk).exists()


def test_the_button_on_an_erased_contact_says_it_is_gone(person, admin_client):
    url = reverse("contacts:erase", args=[person.pk])
    admin_client.post(url)
    response = admin_client.post(url, follow=True)
    assert "already been erased" in response.content.decode()


# --- Segments whose rules quote the person ------------------------------------------------------


def members(segment: Segment) -> set:
    segment = Segment.objects.get(pk=segment.pk)
    return set(segment_service.segment_members(segment).values_list("pk", flat=True))


@pytest.fixture
def quoting_segments(person, staff_actor, system_actor):
    """Segments naming the person by email (current and former) and phone, and one that does
    not; plus a contact the person referred, whom a negated condition leaves out."""
    Field.objects.create(name="referrer phone", type="text")
    referred = contact_service.create_contact(
        actor=system_actor, email="referred@example.com", metadata={"referrer": EMAIL},
        fields={"referrer phone": "+44 7400 123456"},
    )  # fmt: skip
    contact_service.create_contact(actor=system_actor, email="other@example.com")
    create = segment_service.create_segment
    by_email = create(actor=staff_actor, name="Just Wilhelmina", rules={"all": [
        {"field": "email", "op": "equals", "value": EMAIL}, {"field": "phone", "op": "not_empty"},
    ]})  # fmt: skip
    by_old_email = create(actor=staff_actor, name="Old address", rules={"any": [
        {"field": "email", "op": "equals", "value": OLD_EMAIL.upper()},
        {"field": "email_domain", "op": "equals", "value": "example.com"},
    ]})  # fmt: skip
    not_referred = create(actor=staff_actor, name="Not referred by her", rules={"all": [
        {"field": "metadata.referrer", "op": "not_equals", "value": EMAIL},
    ]})  # fmt: skip
    by_phone = create(actor=staff_actor, name="Her number", rules={"all": [{"any": [
        {"field": "custom:referrer phone", "op": "equals", "value": "0044 7400 123456"},
    ]}]})  # fmt: skip
    unrelated = create(actor=staff_actor, name="Acme", rules={"all": [
        {"field": "email_domain", "op": "equals", "value": "acme.example"},
    ]})  # fmt: skip
    assert referred.pk not in members(not_referred)
    return [by_email, by_old_email, not_referred, by_phone, unrelated]


def test_erasure_makes_the_conditions_quoting_the_person_match_nobody(
    person, quoting_segments, staff_actor
):
    by_email, by_old_email, not_referred, by_phone, unrelated = quoting_segments
    before = {s.pk: members(s) - {person.pk} for s in quoting_segments}

    result = erase_contact(actor=staff_actor, contact=person)

    assert [s.name for s in result.segments_changed] == [
        "Her number", "Just Wilhelmina", "Not referred by her", "Old address",
    ]  # fmt: skip
    assert Segment.objects.get(pk=by_email.pk).rules == {
        "all": [{"any": []}, {"field": "phone", "op": "not_empty"}]
    }
    assert Segment.objects.get(pk=by_old_email.pk).rules["any"][0] == {"any": []}
    assert Segment.objects.get(pk=by_phone.pk).rules == {"all": [{"any": [{"any": []}]}]}
    assert Segment.objects.get(pk=unrelated.pk).rules == unrelated.rules
    # No segment matches anyone it did not match before (dropping the negated condition
    # would have let in the contact the person referred).
    for segment in quoting_segments:
        assert members(segment) <= before[segment.pk]
    assert members(not_referred) == set()
    assert members(by_old_email) == before[by_old_email.pk]


def test_look_alike_addresses_and_numbers_in_other_segments_are_left_alone(person, staff_actor):
    Field.objects.create(name="landline", type="text")
    rules = {"any": [
        {"field": "email", "op": "equals", "value": "x" + EMAIL},
        {"field": "email", "op": "equals", "value": EMAIL + ".uk"},
        {"field": "custom:landline", "op": "equals", "value": PHONE + "7"},
        {"field": "metadata.ref", "op": "equals", "value": int(PHONE[1:] + "0")},
    ]}  # fmt: skip
    segment = segment_service.create_segment(actor=staff_actor, name="Look-alikes", rules=rules)

    result = erase_contact(actor=staff_actor, contact=person)

    assert result.segments_changed == ()
    assert Segment.objects.get(pk=segment.pk).rules == rules


def test_no_segment_or_its_audit_trail_keeps_the_persons_email_or_phone(
    person, quoting_segments, staff_actor
):
    by_email = quoting_segments[0]
    segment_service.update_segment(
        actor=staff_actor, segment=by_email, name="Renamed", rules={"all": []}
    )  # an earlier version quoted her: only the audit trail holds it now
    segment_service.delete_segment(
        actor=staff_actor, segment=Segment.objects.get(name="Not referred by her")
    )

    erase_contact(actor=staff_actor, contact=person)

    # (The referred contact's own metadata and field still quote her: that is their data.)
    saved = json.dumps(
        [list(Segment.objects.values("name", "rules"))]
        + [list(AuditEntry.objects.filter(object_type="segment").values("changes"))]
    ).lower()
    assert [n for n in (EMAIL, OLD_EMAIL, PHONE, "7400 123456") if n.lower() in saved] == []
    # The change is audited as an erasure's, with the new rules only.
    entries = AuditEntry.objects.filter(action="segment.erasure")
    assert sorted(e.object_repr for e in entries) == ["Her number", "Old address"]
    assert all(e.changes["rules"][0] is None for e in entries)
    erased = AuditEntry.objects.get(action="contact.erase")
    assert len(erased.changes["segments_changed"][1]) == 2


def test_staff_are_told_which_segments_changed(person, quoting_segments, admin_client):
    response = admin_client.post(reverse("contacts:erase", args=[person.pk]), follow=True)

    page = response.content.decode()
    assert "was erased" in page
    assert "now match nobody" in page
    assert "“Just Wilhelmina”" in page and "“Acme”" not in page
    # The builder opens a scrubbed segment as it does any other.
    edit = reverse("contacts:segment_edit", args=[quoting_segments[0].pk])
    assert admin_client.get(edit).status_code == 200


def test_an_erasure_touching_no_segment_says_nothing_about_segments(person, admin_client):
    response = admin_client.post(reverse("contacts:erase", args=[person.pk]), follow=True)
    assert "match nobody" not in response.content.decode()


def test_a_condition_quoting_the_person_at_the_deepest_level_leaves_a_valid_segment(
    person, staff_actor
):
    # The condition became the group {"any": []}, one level deeper than groups may nest: the
    # segment was refused everywhere ("groups nest at most 5 levels deep") after the erasure.
    deepest = {"all": [{"field": "email", "op": "equals", "value": EMAIL},
                       {"field": "phone", "op": "not_empty"}]}  # fmt: skip
    rules = {"all": [{"any": [{"all": [{"any": [deepest]}]}]}]}
    segment = segment_service.create_segment(actor=staff_actor, name="Deep", rules=rules)
    assert members(segment) == {person.pk}

    erase_contact(actor=staff_actor, contact=person)

    assert Segment.objects.get(pk=segment.pk).rules["all"][0]["any"][0]["all"][0]["any"][0] == {
        "all": [{"any": []}, {"field": "phone", "op": "not_empty"}]
    }
    assert members(segment) == set()


def test_a_condition_quoting_the_person_in_another_spelling_is_scrubbed_too(person, staff_actor):
    # The rule matches her (the domain is compared in its stored spelling), so it quotes her.
    local, domain = EMAIL.split("@")
    wide = local + "@" + "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in domain)
    rules = {"any": [{"field": "email", "op": "equals", "value": wide.upper()}]}
    segment = segment_service.create_segment(actor=staff_actor, name="Wide", rules=rules)
    assert members(segment) == {person.pk}

    erase_contact(actor=staff_actor, contact=person)

    assert Segment.objects.get(pk=segment.pk).rules == {"any": [{"any": []}]}
