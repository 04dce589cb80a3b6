"""contacts.services.tags: tags by name, applied to and removed from contacts."""

from __future__ import annotations

import pytest

from contacts.models import ContactTag, Tag
from contacts.services import tags as tag_service
from contacts.services.segments import count_members, create_segment
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from tests.contacts.helpers import history_kinds, last_audit

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "\u200b", "\ufeff\u00a0"])
def test_a_tag_name_has_1_to_64_characters(name):
    with pytest.raises(SwitchboardError) as caught:
        tag_service.clean_tag_name(name)

    assert (caught.value.code, caught.value.field) == ("invalid_tag", "name")


def test_a_tag_name_is_trimmed_and_spaces_collapsed():
    assert tag_service.clean_tag_name("  early   bird ") == "early bird"


def test_a_pasted_name_with_invisible_characters_is_the_tag_it_looks_like(
    staff_actor, make_contact
):
    vip = tag_service.create_tag(actor=staff_actor, name="VIP")
    contact = make_contact()

    # As pasted from a web page or a chat message: zero-width space, BOM, soft hyphen.
    tag, added = tag_service.tag_contact(
        actor=staff_actor, contact=contact, tag_name="\ufeffV\u00adIP\u200b"
    )

    assert (tag, added) == (vip, True)
    assert Tag.objects.count() == 1
    assert tag_service.find_tag("VIP\u200b") == vip


def test_an_accent_written_as_a_second_character_is_the_same_tag(staff_actor, make_contact):
    cafe = tag_service.create_tag(actor=staff_actor, name="Caf\u00e9")  # é as one character

    # As pasted from macOS: "e" followed by the combining acute accent.
    tag, added = tag_service.tag_contact(
        actor=staff_actor, contact=make_contact(), tag_name="Cafe\u0301"
    )

    assert (tag, added) == (cafe, True)
    assert Tag.objects.count() == 1
    with pytest.raises(SwitchboardError):
        tag_service.create_tag(actor=staff_actor, name="cafe\u0301")


def test_it_creates_a_tag_and_audits_it(staff_actor, staff_user):
    tag = tag_service.create_tag(actor=staff_actor, name="VIP")

    assert tag.name == "VIP"
    entry = AuditEntry.objects.get(action="tag.create")
    assert (entry.actor_user, entry.changes) == (staff_user, {"name": [None, "VIP"]})


@pytest.mark.parametrize("other", ["VIP", "vip", " Vip "])
def test_it_refuses_a_duplicate_tag_in_any_letter_case(staff_actor, other):
    tag_service.create_tag(actor=staff_actor, name="VIP")

    with pytest.raises(SwitchboardError) as caught:
        tag_service.create_tag(actor=staff_actor, name=other)

    assert (caught.value.code, caught.value.field) == ("duplicate_tag", "name")
    assert Tag.objects.count() == 1


def test_get_or_create_reuses_a_tag_whatever_its_case(staff_actor):
    first = tag_service.get_or_create_tag(actor=staff_actor, name="Customer")
    again = tag_service.get_or_create_tag(actor=staff_actor, name="CUSTOMER")

    assert again == first
    assert AuditEntry.objects.filter(action="tag.create").count() == 1


def test_it_renames_a_tag_and_refuses_a_name_in_use(staff_actor):
    vip = tag_service.create_tag(actor=staff_actor, name="vip")
    tag_service.create_tag(actor=staff_actor, name="lead")

    tag_service.rename_tag(actor=staff_actor, tag=vip, name="VIP")
    with pytest.raises(SwitchboardError) as caught:
        tag_service.rename_tag(actor=staff_actor, tag=vip, name="Lead")

    assert caught.value.code == "duplicate_tag"
    vip.refresh_from_db()
    assert vip.name == "VIP"
    assert AuditEntry.objects.get(action="tag.rename").changes == {"name": ["vip", "VIP"]}


def test_deleting_a_tag_keeps_its_contacts_and_records_how_many(staff_actor, make_contact):
    contact = make_contact(tags=["old"])
    make_contact(tags=["old"])
    tag = Tag.objects.get(name="old")

    tag_service.delete_tag(actor=staff_actor, tag=tag)

    assert not Tag.objects.exists()
    contact.refresh_from_db()
    entry = AuditEntry.objects.get(action="tag.delete")
    assert entry.changes == {"name": ["old", None], "contacts": [2, 0]}


def test_tagging_a_contact_creates_the_tag_and_records_it(staff_actor, staff_user, make_contact):
    contact = make_contact()

    tag, added = tag_service.tag_contact(actor=staff_actor, contact=contact, tag_name="Lead")

    assert added is True
    assert list(contact.tags.all()) == [tag]
    entry = last_audit(contact)
    assert (entry.action, entry.actor_user) == ("contact.tag", staff_user)
    assert entry.changes == {"tags": [None, "Lead"]}
    assert history_kinds(contact)[-1] == "tagged"
    assert contact.interactions.first().description == "Tagged Lead"


def test_tagging_twice_is_harmless_and_records_once(staff_actor, make_contact):
    contact = make_contact()
    tag_service.tag_contact(actor=staff_actor, contact=contact, tag_name="Lead")

    _, added = tag_service.tag_contact(actor=staff_actor, contact=contact, tag_name="lead")

    assert added is False
    assert ContactTag.objects.count() == 1
    assert AuditEntry.objects.filter(action="contact.tag").count() == 1


def test_an_invalid_tag_name_tags_nothing(staff_actor, make_contact):
    contact = make_contact()

    with pytest.raises(SwitchboardError) as caught:
        tag_service.tag_contact(actor=staff_actor, contact=contact, tag_name=" ")

    assert caught.value.code == "invalid_tag"
    assert not Tag.objects.exists()


def test_untagging_removes_the_tag_and_records_it(staff_actor, make_contact):
    contact = make_contact(tags=["Lead"])
    tag = Tag.objects.get()

    assert tag_service.untag_contact(actor=staff_actor, contact=contact, tag=tag) is True
    assert tag_service.untag_contact(actor=staff_actor, contact=contact, tag=tag) is False

    assert not contact.tags.exists()
    assert Tag.objects.filter(pk=tag.pk).exists(), "the tag itself stays"
    assert last_audit(contact).changes == {"tags": ["Lead", None]}
    assert AuditEntry.objects.filter(action="contact.untag").count() == 1
    assert history_kinds(contact)[-1] == "untagged"


def test_merging_a_tag_moves_its_contacts_and_segments_to_the_other(staff_actor, make_contact):
    both = make_contact(tags=["VIP", "V.I.P."])
    only_old = make_contact(tags=["V.I.P."])
    make_contact(tags=["VIP"])
    old, vip = Tag.objects.get(name="V.I.P."), Tag.objects.get(name="VIP")
    old_id = old.pk
    by_id = create_segment(
        actor=staff_actor,
        name="by id",
        rules={"all": [{"field": "tag", "op": "has", "value": old_id}]},
    )
    by_name = create_segment(
        actor=staff_actor,
        name="by name",
        rules={"any": [{"field": "tag", "op": "has_not", "value": "v.i.p."}]},
    )

    gained = tag_service.merge_tags(actor=staff_actor, source=old, target=vip)

    assert gained == 1
    assert not Tag.objects.filter(pk=old_id).exists()
    assert {both.pk, only_old.pk} <= set(
        ContactTag.objects.filter(tag=vip).values_list("contact_id", flat=True)
    )
    assert ContactTag.objects.filter(tag=vip).count() == 3
    by_id.refresh_from_db()
    by_name.refresh_from_db()
    assert by_id.rules["all"][0]["value"] == vip.pk
    assert by_name.rules["any"][0]["value"] == "VIP"
    assert count_members(by_id) == 3
    entry = AuditEntry.objects.get(action="tag.merge")
    assert entry.changes["merged_into"] == [None, "VIP"]


def test_a_tag_cannot_be_merged_into_itself(staff_actor):
    vip = tag_service.create_tag(actor=staff_actor, name="VIP")

    with pytest.raises(SwitchboardError) as caught:
        tag_service.merge_tags(actor=staff_actor, source=vip, target=vip)

    assert caught.value.code == "invalid_tag_merge"
    assert Tag.objects.filter(pk=vip.pk).exists()


def test_a_tag_deleted_after_it_was_looked_up_is_unknown_not_a_server_error(staff_actor):
    tag = Tag.objects.create(name="Gone soon")
    Tag.objects.filter(pk=tag.pk).delete()
    with pytest.raises(SwitchboardError) as caught:
        tag_service.rename_tag(actor=staff_actor, tag=tag, name="Renamed")
    assert caught.value.code == "unknown_tag"
    assert "“Gone soon” no longer exists" in caught.value.message
