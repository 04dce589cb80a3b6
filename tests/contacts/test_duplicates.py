"""Probable duplicates and merging them: the union is kept, choices honoured, nothing half-done."""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts.models import Contact, ContactList, Field, Interaction
from contacts.services import duplicates as duplicate_service
from contacts.services.duplicates import canonical_email, find_duplicates, merge_contacts
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "email, mailbox",
    [
        ("J.Doe+news@GoogleMail.com", "jdoe@gmail.com"),
        ("j.doe@gmail.com", "jdoe@gmail.com"),
        ("jane+promo@outlook.com", "jane@outlook.com"),
        ("jane.doe@outlook.com", "jane.doe@outlook.com"),  # Outlook does not ignore dots
        ("jane+x@acme.com", "jane+x@acme.com"),  # unknown provider: a + may be significant
    ],
)
def test_the_canonical_mailbox_ignores_only_what_the_provider_ignores(email, mailbox):
    assert canonical_email(email) == mailbox


def groups_by_reason() -> dict[str, list[set[str]]]:
    found: dict[str, list[set[str]]] = {}
    for group in find_duplicates():
        found.setdefault(group.reason, []).append({c.email for c in group.contacts})
    return found


def test_it_finds_the_same_mailbox_the_same_phone_and_similar_names(make_contact):
    make_contact(email="jdoe@gmail.com")
    make_contact(email="J.Doe+shop@googlemail.com")
    make_contact(email="kim@acme.com", phone="+447400123456")
    make_contact(email="kim.b@other.org", phone="+447400123456")
    make_contact(email="robert.smith@initech.com", first_name="Robert", last_name="Smith")
    make_contact(email="rob@initech.com", first_name="Rob", last_name="Smith")
    make_contact(email="rob.smith@gmail.com", first_name="Rob", last_name="Smith")  # free mail
    make_contact(email="ruth@initech.com", first_name="Ruth", last_name="Smith")  # not similar
    assert groups_by_reason() == {
        "same email": [{"jdoe@gmail.com", "j.doe+shop@googlemail.com"}],
        "same phone": [{"kim@acme.com", "kim.b@other.org"}],
        "similar name": [{"robert.smith@initech.com", "rob@initech.com"}],
    }


@pytest.fixture
def pair(make_contact, system_actor):
    newsletter = ContactList.objects.create(name="Newsletter")
    events = ContactList.objects.create(name="Events")
    Field.objects.create(name="company", type="text")
    keep = make_contact(
        email="robert@initech.com", first_name="Robert", last_name="Smith",
        metadata={"plan": "pro", "source": "web"}, tags=["VIP"], list_ids=[newsletter.pk],
        fields={"company": "Initech"},
    )  # fmt: skip
    dupe = make_contact(
        email="rob@initech.com", first_name="Rob", last_name="Smith", phone="+447400123456",
        metadata={"plan": "free", "referrer": "ads"}, tags=["VIP", "Beta"],
        list_ids=[newsletter.pk, events.pk], fields={"company": "Initech Ltd"},
    )  # fmt: skip
    return keep, dupe


def test_the_survivor_keeps_the_union_of_tags_lists_metadata_and_history(pair, staff_actor):
    keep, dupe = pair
    history = Interaction.objects.filter(contact__in=[keep, dupe]).count()
    merged = merge_contacts(actor=staff_actor, survivor=keep, duplicate=dupe)

    assert not Contact.objects.filter(pk=dupe.pk).exists()
    assert sorted(merged.tags.values_list("name", flat=True)) == ["Beta", "VIP"]
    assert sorted(merged.lists.values_list("name", flat=True)) == ["Events", "Newsletter"]
    assert merged.metadata == {"plan": "pro", "source": "web", "referrer": "ads"}
    assert merged.interactions.count() == history + 1  # plus the merge itself
    # Unchosen values: the survivor's, or the duplicate's where the survivor had none.
    assert (merged.email, merged.first_name, merged.phone) == (
        "robert@initech.com",
        "Robert",
        "+447400123456",
    )


def test_staff_choose_which_values_survive(pair, staff_actor):
    keep, dupe = pair
    company = Field.objects.get(name="company")
    merged = merge_contacts(
        actor=staff_actor, survivor=keep, duplicate=dupe,
        choices={"email": "duplicate", "first_name": "duplicate", f"field:{company.pk}": "duplicate"},
    )  # fmt: skip
    merged.refresh_from_db()
    assert (merged.email, merged.first_name, merged.first_name_key) == (
        "rob@initech.com",
        "Rob",
        "rob",
    )
    assert merged.field_values.get().value_text == "Initech Ltd"


def test_the_merge_is_audited_with_both_sides(pair, staff_actor):
    keep, dupe = pair
    merge_contacts(actor=staff_actor, survivor=keep, duplicate=dupe)
    entry = AuditEntry.objects.get(action="contact.merge")
    assert entry.contact_id == keep.pk and entry.actor_label == staff_actor.label
    assert entry.changes["merged"] == [str(dupe.pk), None]
    assert entry.changes["duplicate"][0]["email"] == "rob@initech.com"
    # The duplicate's own trail now belongs to the survivor.
    assert not AuditEntry.objects.filter(contact_id=dupe.pk).exists()


def test_an_unsubscribe_on_either_side_survives_the_merge(pair, staff_actor):
    from contacts.services.contacts import update_contact

    keep, dupe = pair
    update_contact(actor=staff_actor, contact=dupe, unsubscribed=True)
    merged = merge_contacts(actor=staff_actor, survivor=keep, duplicate=dupe)
    assert merged.is_unsubscribed


def test_merging_a_contact_with_itself_is_refused(pair, staff_actor):
    keep, _ = pair
    with pytest.raises(SwitchboardError) as caught:
        merge_contacts(actor=staff_actor, survivor=keep, duplicate=keep.pk)
    assert caught.value.code == "merge_same_contact"


def test_a_failed_merge_changes_nothing(pair, staff_actor, monkeypatch):
    keep, dupe = pair

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(duplicate_service, "log_interaction", fail)
    with pytest.raises(RuntimeError):
        merge_contacts(actor=staff_actor, survivor=keep, duplicate=dupe)
    assert Contact.objects.filter(pk=dupe.pk).exists()
    assert dupe.tags.count() == 2 and keep.tags.count() == 1


def test_bad_choices_are_refused(pair, staff_actor):
    keep, dupe = pair
    with pytest.raises(SwitchboardError, match="survivor or duplicate"):
        merge_contacts(actor=staff_actor, survivor=keep, duplicate=dupe, choices={"email": "both"})
    assert Contact.objects.filter(pk=dupe.pk).exists()


def test_the_duplicates_page_lists_groups(staff_client, pair):
    response = staff_client.get(reverse("contacts:duplicates"))
    assert response.status_code == 200
    assert "rob@initech.com" in response.content.decode()


def test_the_side_by_side_page_merges_with_the_chosen_values(staff_client, pair):
    keep, dupe = pair
    url = reverse("contacts:duplicate_merge", args=[keep.pk, dupe.pk])
    page = staff_client.get(url).content.decode()
    assert "Robert" in page and "Rob" in page and 'name="first_name"' in page
    response = staff_client.post(url, {"first_name": "duplicate"})
    assert response.status_code == 302
    keep.refresh_from_db()
    assert keep.first_name == "Rob"
    assert not Contact.objects.filter(pk=dupe.pk).exists()


def test_a_pair_that_was_already_merged_is_gone(staff_client, pair, staff_actor):
    keep, dupe = pair
    merge_contacts(actor=staff_actor, survivor=keep, duplicate=dupe)
    assert (
        staff_client.get(reverse("contacts:duplicate_merge", args=[keep.pk, dupe.pk])).status_code
        == 404
    )
