"""Segment services: saved rules stay current with no rebuild; snapshots; bad input refused."""

from __future__ import annotations

import pytest

from contacts.models import ContactList, Field, Segment
from contacts.services import contacts as contact_service
from contacts.services import segments as segment_service
from contacts.services.fields import delete_field
from contacts.services.history import mark_contacted, record_event
from contacts.services.tags import rename_tag, tag_contact, untag_contact
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

pytestmark = pytest.mark.django_db


def emails(segment: Segment) -> set[str]:
    return set(segment_service.segment_members(segment).values_list("email", flat=True))


@pytest.fixture
def lead_score(system_actor) -> Field:
    return Field.objects.create(name="lead_score", type="number")


def vip_uk_hot(tag_id: int) -> dict:
    return {
        "all": [
            {"field": "tag", "op": "has", "value": tag_id},
            {"field": "phone_country", "op": "equals", "value": "GB"},
            {"field": "custom:lead_score", "op": "gt", "value": 50},
            {"field": "last_contacted", "op": "not_in_last_days", "value": 30},
        ]
    }


def test_membership_follows_contact_changes_with_no_rebuild(make_contact, staff_actor, lead_score):
    ann = make_contact(email="ann@acme.com", phone="+447400123456", fields={"lead_score": 80})
    tag, _ = tag_contact(actor=staff_actor, contact=ann, tag_name="VIP")
    segment = segment_service.create_segment(
        actor=staff_actor, name="Hot UK VIPs", rules=vip_uk_hot(tag.pk)
    )
    assert emails(segment) == {"ann@acme.com"}

    contact_service.update_contact(actor=staff_actor, contact=ann, fields={"lead_score": 20})
    assert emails(segment) == set()
    contact_service.update_contact(actor=staff_actor, contact=ann, fields={"lead_score": 51})
    assert emails(segment) == {"ann@acme.com"}

    mark_contacted([ann.pk])
    assert emails(segment) == set()  # contacted today, so not "not in the last 30 days"


def test_a_new_contact_joins_and_an_untagged_one_leaves(make_contact, staff_actor, lead_score):
    ann = make_contact(email="ann@acme.com", phone="+447400123456", fields={"lead_score": 80})
    tag, _ = tag_contact(actor=staff_actor, contact=ann, tag_name="VIP")
    segment = segment_service.create_segment(actor=staff_actor, name="S", rules=vip_uk_hot(tag.pk))
    make_contact(
        email="bob@acme.com", phone="+447400123457", fields={"lead_score": 99}, tags=["VIP"]
    )
    assert emails(segment) == {"ann@acme.com", "bob@acme.com"}
    untag_contact(actor=staff_actor, contact=ann, tag=tag)
    assert emails(segment) == {"bob@acme.com"}
    assert segment_service.count_members(segment) == 1


def test_an_event_puts_a_contact_into_an_event_segment(make_contact, staff_actor, system_actor):
    ann = make_contact(email="ann@acme.com")
    rules = {"all": [{"field": "event", "op": "happened", "value": {
        "name": "email_opened", "in_last_days": 14,
        "params": [{"key": "campaign", "op": "equals", "value": "Spring Sale"}]}}]}  # fmt: skip
    segment = segment_service.create_segment(actor=staff_actor, name="Opened spring", rules=rules)
    record_event(
        actor=system_actor, contact=ann, name="email_opened", params={"campaign": "Autumn"}
    )
    assert emails(segment) == set()
    record_event(
        actor=system_actor, contact=ann, name="email_opened", params={"campaign": "Spring Sale"}
    )
    assert emails(segment) == {"ann@acme.com"}


def test_mark_contacted_only_moves_forward(make_contact):
    ann = make_contact(email="ann@acme.com")
    assert mark_contacted([ann.pk]) == 1
    ann.refresh_from_db()
    first = ann.last_contacted_at
    assert mark_contacted([ann.pk], at=first.replace(year=first.year - 1)) == 0
    ann.refresh_from_db()
    assert ann.last_contacted_at == first


def test_creating_a_segment_is_audited(staff_actor):
    segment = segment_service.create_segment(
        actor=staff_actor, name="  All  people ", rules={"all": []}
    )
    assert segment.name == "All people"
    entry = AuditEntry.objects.get(action="segment.create")
    assert entry.actor_label == staff_actor.label and entry.object_id == str(segment.pk)


@pytest.mark.parametrize(
    "name, rules, code",
    [
        ("", {"all": []}, "invalid_segment"),
        ("x" * 101, {"all": []}, "invalid_segment"),
        ("Bad", "{'all': []}", "invalid_segment_rule"),
        ("Bad", {"all": [{"field": "nope", "op": "equals", "value": 1}]}, "invalid_segment_rule"),
    ],
)
def test_bad_segments_are_refused_and_nothing_is_saved(staff_actor, name, rules, code):
    with pytest.raises(SwitchboardError) as caught:
        segment_service.create_segment(actor=staff_actor, name=name, rules=rules)
    assert caught.value.code == code
    assert not Segment.objects.exists()


def test_an_update_with_bad_rules_keeps_the_old_rules(staff_actor):
    segment = segment_service.create_segment(actor=staff_actor, name="S", rules={"all": []})
    with pytest.raises(SwitchboardError):
        segment_service.update_segment(
            actor=staff_actor, segment=segment, name="S", rules={"all": [{}]}
        )
    segment.refresh_from_db()
    assert segment.rules == {"all": []}


def test_deleting_a_custom_field_makes_its_segments_report_it(staff_actor, lead_score):
    rules = {"all": [{"field": f"custom:{lead_score.pk}", "op": "gt", "value": 5}]}
    segment = segment_service.create_segment(actor=staff_actor, name="Scored", rules=rules)
    delete_field(actor=staff_actor, field=lead_score)
    with pytest.raises(SwitchboardError) as caught:
        segment_service.count_members(segment)
    assert "does not exist" in caught.value.message


def test_a_snapshot_is_a_static_list_that_no_longer_follows_the_rules(make_contact, staff_actor):
    ann = make_contact(email="ann@acme.com", tags=["VIP"])
    make_contact(email="bob@acme.com")
    segment = segment_service.create_segment(
        actor=staff_actor,
        name="VIPs",
        rules={"all": [{"field": "tag", "op": "has", "value": "VIP"}]},
    )
    frozen = segment_service.snapshot_segment(actor=staff_actor, segment=segment, name="VIP freeze")
    make_contact(email="cat@acme.com", tags=["VIP"])
    assert list(frozen.contacts.values_list("email", flat=True)) == ["ann@acme.com"]
    assert ann.interactions.filter(kind="list_added").count() == 1
    assert AuditEntry.objects.filter(action="contact.list_add", contact_id=ann.pk).exists()


def test_snapshotting_an_empty_segment_is_refused(staff_actor):
    segment = segment_service.create_segment(actor=staff_actor, name="Nobody", rules={"any": []})
    with pytest.raises(SwitchboardError) as caught:
        segment_service.snapshot_segment(actor=staff_actor, segment=segment)
    assert caught.value.code == "empty_segment"
    assert not ContactList.objects.exists()


def test_a_tag_named_with_digits_is_found_by_its_name_and_followed_when_renamed(
    make_contact, staff_actor
):
    # "2024" was read as an id only: the tag called 2024 was reported as deleted.
    ann = make_contact(email="ann@acme.com")
    cohort, _ = tag_contact(actor=staff_actor, contact=ann, tag_name="2024")
    make_contact(email="bob@acme.com")
    rules = {"all": [{"field": "tag", "op": "has", "value": "2024"}]}
    segment = segment_service.create_segment(actor=staff_actor, name="Cohort", rules=rules)
    assert emails(segment) == {"ann@acme.com"}

    rename_tag(actor=staff_actor, tag=cohort, name="Cohort 2024")

    segment.refresh_from_db()
    assert segment.rules == {"all": [{"field": "tag", "op": "has", "value": "Cohort 2024"}]}
    assert emails(segment) == {"ann@acme.com"}


def test_digits_that_are_one_tags_id_and_another_tags_name_are_refused_as_ambiguous(
    make_contact, staff_actor
):
    first, _ = tag_contact(actor=staff_actor, contact=make_contact(), tag_name="VIP")
    tag_contact(actor=staff_actor, contact=make_contact(), tag_name=str(first.pk))
    rules = {"all": [{"field": "tag", "op": "has", "value": str(first.pk)}]}

    with pytest.raises(SwitchboardError) as caught:
        segment_service.create_segment(actor=staff_actor, name="Which", rules=rules)

    assert caught.value.code == "invalid_segment_rule"
    assert "“VIP”" in caught.value.message and f"({first.pk})" in caught.value.message
    by_id = {"all": [{"field": "tag", "op": "has", "value": first.pk}]}
    assert segment_service.create_segment(actor=staff_actor, name="VIPs", rules=by_id)


def test_renaming_a_tag_leaves_a_condition_on_another_tags_id_alone(make_contact, staff_actor):
    vip, _ = tag_contact(actor=staff_actor, contact=make_contact(), tag_name="VIP")
    named, _ = tag_contact(actor=staff_actor, contact=make_contact(), tag_name=str(vip.pk))
    rules = {"all": [{"field": "tag", "op": "has", "value": str(vip.pk)}]}
    segment = Segment.objects.create(name="By id", rules=rules)

    rename_tag(actor=staff_actor, tag=named, name="Renamed")

    segment.refresh_from_db()
    assert segment.rules == rules


def test_saving_a_segment_deleted_a_moment_before_says_so(staff_actor):
    # Deleted between the page's look-up and the save: Segment.DoesNotExist, a 500.
    segment = segment_service.create_segment(actor=staff_actor, name="S", rules={"all": []})
    segment_service.delete_segment(actor=Actor.system("colleague"), segment=Segment.objects.get())

    with pytest.raises(SwitchboardError) as caught:
        segment_service.update_segment(
            actor=staff_actor, segment=segment, name="S2", rules={"all": []}
        )

    assert caught.value.code == "unknown_segment"
    assert "deleted by colleague" in caught.value.message
    assert not Segment.objects.exists()
