"""Probable duplicates and merging them: the union is kept, choices honoured, nothing half-done."""

from __future__ import annotations

import html
import itertools
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact, ContactList, DismissedDuplicate, Field, Interaction
from contacts.services import duplicates as duplicate_service
from contacts.services.duplicates import (
    canonical_email,
    dismiss_duplicate,
    find_duplicates,
    merge_contacts,
    undo_dismissal,
)
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from tests.contacts.helpers import queries_to_get

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


def test_plain_addresses_are_looked_up_a_slice_at_a_time(make_contact, monkeypatch):
    # One IN list of every mailbox was more variables than SQLite allows in a statement
    # (32,766 in its default build) once a large base held that many plus-addressed or Gmail
    # addresses.
    monkeypatch.setattr(duplicate_service, "_ADDRESSES_PER_QUERY", 2)
    for name in ("ann", "bea", "cat", "dot", "eve"):
        make_contact(email=f"{name}@outlook.com")
        make_contact(email=f"{name}+news@outlook.com")
    make_contact(email="fay@gmail.com")
    make_contact(email="f.ay@gmail.com")

    with CaptureQueriesContext(connection) as captured:
        found = groups_by_reason()["same email"]

    assert sorted(sorted(group) for group in found) == [
        ["ann+news@outlook.com", "ann@outlook.com"],
        ["bea+news@outlook.com", "bea@outlook.com"],
        ["cat+news@outlook.com", "cat@outlook.com"],
        ["dot+news@outlook.com", "dot@outlook.com"],
        ["eve+news@outlook.com", "eve@outlook.com"],
        ["f.ay@gmail.com", "fay@gmail.com"],
    ]
    lookups = [q["sql"] for q in captured.captured_queries if '"email" IN (' in q["sql"]]
    assert len(lookups) == 3  # five plain Outlook mailboxes, two at a time; Gmail's were read


def test_similar_names_are_the_same_pairs_however_many_share_a_surname(make_contact):
    # Hundreds at one company share a common surname: every pair of them was compared, which
    # took the duplicates page of a million contacts a minute and a half.
    firsts = ["rob", "robert", "roberta", "ruth", "ru", "ann", "anna", "ann", "bo", "bob", "al"]
    people = [(n, name) for n, name in enumerate(firsts)]
    pairs = {frozenset(p) for p in duplicate_service._prefix_pairs(people)}
    expected = {
        frozenset((a, b))
        for (a, first_a), (b, first_b) in itertools.combinations(people, 2)
        if first_a.startswith(first_b) or first_b.startswith(first_a)
    }
    assert pairs == expected
    for n, first in enumerate(firsts):
        make_contact(email=f"p{n}@initech.com", first_name=first.title(), last_name="Smith")

    groups = find_duplicates(limit=5)

    assert len(groups) == 5
    for group in groups:
        a, b = (c.first_name.lower() for c in group.pair)
        assert group.reason == "similar name" and (a.startswith(b) or b.startswith(a))


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


def test_the_duplicates_replies_and_campaign_places_follow_it_to_the_survivor(
    pair, staff_actor, system_actor
):
    from sms.campaigns.models import Campaign, Recipient
    from sms.models import InboundMessage

    keep, dupe = pair
    reply = InboundMessage.objects.create(
        gateway="sandbox", sender=dupe.phone, text="Call me", contact=dupe
    )
    campaign = Campaign.objects.create(
        name="Spring", text="Hi", audience_kind="tag", audience_id=1, audience_label="VIP",
        schedule_mode="now", start_at=timezone.now(), actor_kind="system", actor_label="tests",
    )  # fmt: skip
    place = Recipient.objects.create(
        campaign=campaign, contact=dupe, phone=dupe.phone, batch=0, encoding="GSM-7",
        segments=1, price=0,
    )  # fmt: skip

    merge_contacts(actor=staff_actor, survivor=keep, duplicate=dupe, choices={"phone": "survivor"})

    # Not left pointing at nobody, where erasing the survivor would not find them.
    assert InboundMessage.objects.get(pk=reply.pk).contact_id == keep.pk
    assert Recipient.objects.get(pk=place.pk).contact_id == keep.pk


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


@pytest.mark.parametrize(
    ("mine", "theirs", "kept"),
    [
        ("granted", "withdrawn", "withdrawn"),
        ("unknown", "withdrawn", "withdrawn"),
        ("withdrawn", "granted", "withdrawn"),
        ("unknown", "granted", "granted"),
        ("granted", "unknown", "granted"),
    ],
)
def test_a_consent_withdrawn_on_either_side_survives_the_merge(
    pair, staff_actor, mine, theirs, kept
):
    from contacts.services.contacts import update_contact

    keep, dupe = pair
    update_contact(actor=staff_actor, contact=keep, sms_consent=mine, email_consent=mine)
    update_contact(actor=staff_actor, contact=dupe, sms_consent=theirs, email_consent=theirs)

    merged = merge_contacts(actor=staff_actor, survivor=keep.pk, duplicate=dupe.pk)

    merged.refresh_from_db()
    assert (merged.sms_consent, merged.email_consent) == (kept, kept)


def test_staff_may_still_choose_the_other_consent(pair, staff_actor):
    from contacts.services.contacts import update_contact

    keep, dupe = pair
    update_contact(actor=staff_actor, contact=keep, sms_consent="granted")
    update_contact(actor=staff_actor, contact=dupe, sms_consent="withdrawn")

    merged = merge_contacts(
        actor=staff_actor, survivor=keep.pk, duplicate=dupe.pk, choices={"sms_consent": "survivor"}
    )

    merged.refresh_from_db()
    assert merged.sms_consent == "granted"


def test_the_survivors_no_or_zero_is_a_value_the_duplicate_does_not_overwrite(pair, staff_actor):
    from contacts.services.contacts import update_contact

    Field.objects.create(name="VIP", type="boolean")
    Field.objects.create(name="Orders", type="number")
    keep, dupe = pair
    update_contact(actor=staff_actor, contact=keep, fields={"VIP": False, "Orders": 0})
    update_contact(actor=staff_actor, contact=dupe, fields={"VIP": True, "Orders": 7})

    merged = merge_contacts(actor=staff_actor, survivor=keep, duplicate=dupe)

    values = {fv.field.name: fv.value for fv in merged.field_values.select_related("field")}
    assert (values["VIP"], values["Orders"]) == (False, 0)


def test_the_side_by_side_page_offers_the_withdrawn_consent_checked(
    staff_client, pair, staff_actor
):
    from contacts.services.contacts import update_contact

    keep, dupe = pair
    update_contact(actor=staff_actor, contact=keep, sms_consent="granted")
    update_contact(actor=staff_actor, contact=dupe, sms_consent="withdrawn")
    url = reverse("contacts:duplicate_merge", args=[keep.pk, dupe.pk])

    page = staff_client.get(url).content.decode()

    assert 'name="sms_consent" value="duplicate" checked' in page
    assert 'name="sms_consent" value="survivor">' in page
    # Merging without touching that row keeps the withdrawal.
    assert staff_client.post(url, {}).status_code == 302
    keep.refresh_from_db()
    assert keep.sms_consent == "withdrawn"


def test_the_side_by_side_page_shows_that_an_unsubscribe_survives_the_merge(
    staff_client, pair, staff_actor
):
    from contacts.services.contacts import update_contact

    keep, dupe = pair
    update_contact(actor=staff_actor, contact=dupe, unsubscribed=True)

    page = staff_client.get(reverse("contacts:duplicate_merge", args=[keep.pk, dupe.pk]))

    row = re.search(r'<tr data-testid="unsubscribed">.*?</tr>', page.content.decode()).group()
    assert re.search(r"<td>No</td><td><span[^>]*>since ", row)
    assert "The merged contact stays unsubscribed" in page.content.decode()


def test_the_side_by_side_page_shows_metadata_as_json_as_the_contact_page_does(
    staff_client, make_contact
):
    keep = make_contact(email="a@acme.com", metadata={"vip": True, "score": None, "n": 1})
    dupe = make_contact(email="b@acme.com")

    page = staff_client.get(reverse("contacts:duplicate_merge", args=[keep.pk, dupe.pk]))

    row = html.unescape(re.search(r'<tr data-testid="metadata">.*?</tr>', page.text).group())
    # (jsonb keeps keys in its own order on PostgreSQL)
    assert '"vip": true' in row and '"n": 1' in row and "score" not in row
    assert "True" not in row and "'" not in row


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


def test_comparing_a_pair_a_colleague_already_merged_opens_the_kept_contact(
    staff_client, pair, staff_actor
):
    # "Compare" on a duplicates page left open: not a bare "Not Found".
    keep, dupe = pair
    merge_contacts(actor=staff_actor, survivor=keep, duplicate=dupe)

    response = staff_client.get(
        reverse("contacts:duplicate_merge", args=[keep.pk, dupe.pk]), follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("contacts:detail", args=[keep.pk])
    assert "already merged" in response.content.decode()


def test_comparing_a_pair_one_of_which_was_erased_says_so(admin_client, pair, staff_actor):
    from contacts.services.erasure import erase_contact

    keep, dupe = pair
    erase_contact(actor=staff_actor, contact=dupe.pk)

    response = admin_client.get(
        reverse("contacts:duplicate_merge", args=[keep.pk, dupe.pk]), follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("contacts:duplicates")
    assert "no longer exists: it was erased" in response.content.decode()


def test_a_merge_started_before_someone_edited_a_contact_is_refused_and_keeps_their_edit(
    staff_client, pair, staff_actor
):
    from contacts.services.contacts import update_contact

    keep, dupe = pair
    url = reverse("contacts:duplicate_merge", args=[keep.pk, dupe.pk])
    page = staff_client.get(url).content.decode()
    assert f'name="survivor_version" value="{keep.version}"' in page
    # The survivor had no phone, so the page offered the duplicate's, checked.
    form = {"survivor_version": keep.version, "duplicate_version": dupe.version}
    update_contact(actor=staff_actor, contact=keep, phone="+447400999999")

    response = staff_client.post(url, {**form, "phone": "duplicate"})

    assert response.status_code == 422
    page = response.content.decode()
    assert "was changed by sam since this comparison was loaded; nothing was merged" in page
    assert "+447400999999" in page  # the page now compares the latest values
    keep.refresh_from_db()
    assert keep.phone == "+447400999999"
    assert Contact.objects.filter(pk=dupe.pk).exists()
    # Merging again from the refreshed page (its new versions) goes through.
    response = staff_client.post(
        url, {"survivor_version": keep.version, "duplicate_version": dupe.version}
    )
    assert response.status_code == 302
    keep.refresh_from_db()
    assert keep.phone == "+447400999999"
    assert not Contact.objects.filter(pk=dupe.pk).exists()


def test_a_merge_is_refused_when_the_duplicate_changed_since_the_comparison(pair, staff_actor):
    from contacts.services.contacts import update_contact

    keep, dupe = pair
    versions = (keep.version, dupe.version)
    update_contact(actor=staff_actor, contact=dupe, first_name="Bobby")
    with pytest.raises(SwitchboardError) as caught:
        merge_contacts(actor=staff_actor, survivor=keep, duplicate=dupe, expected_versions=versions)
    assert caught.value.code == "edit_conflict"
    assert Contact.objects.filter(pk=dupe.pk).exists()


def test_clicking_merge_twice_opens_the_kept_contact_instead_of_not_found(staff_client, pair):
    keep, dupe = pair
    url = reverse("contacts:duplicate_merge", args=[keep.pk, dupe.pk])
    assert staff_client.post(url).status_code == 302

    response = staff_client.post(url, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("contacts:detail", args=[keep.pk])
    assert "That contact was already merged" in response.content.decode()
    assert AuditEntry.objects.filter(action="contact.merge").count() == 1


def test_merging_a_contact_erased_meanwhile_says_so(admin_client, pair, staff_actor):
    from contacts.services.erasure import erase_contact

    keep, dupe = pair
    erase_contact(actor=staff_actor, contact=dupe.pk)
    url = reverse("contacts:duplicate_merge", args=[keep.pk, dupe.pk])

    response = admin_client.post(url, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("contacts:duplicates")
    assert "no longer exists: it was erased. Nothing was merged." in response.content.decode()
    keep.refresh_from_db()
    assert keep.first_name == "Robert"


# --- not a duplicate ---------------------------------------------------------------------------


def suggested_pairs() -> list[set[str]]:
    """The pair each suggested group offers to compare (or dismiss), by email."""
    return [{c.email for c in group.pair} for group in find_duplicates()]


@pytest.fixture
def twins(make_contact):
    """Two people who share a phone (a family landline): suggested, but not duplicates."""
    return (
        make_contact(email="ann@example.com", first_name="Ann", phone="+447400120001"),
        make_contact(email="bob@example.com", first_name="Bob", phone="+447400120001"),
    )


def test_a_pair_dismissed_as_not_a_duplicate_is_not_suggested_again(twins, staff_actor):
    ann, bob = twins
    assert suggested_pairs() == [{"ann@example.com", "bob@example.com"}]

    dismiss_duplicate(actor=staff_actor, contact=ann, other=bob)

    assert suggested_pairs() == []


def test_a_dismissal_is_one_row_whichever_way_round_with_who_and_when(twins, staff_actor):
    ann, bob = twins
    first = dismiss_duplicate(actor=staff_actor, contact=bob, other=ann.pk)
    again = dismiss_duplicate(actor=staff_actor, contact=str(ann.pk), other=bob)

    assert again.pk == first.pk and DismissedDuplicate.objects.count() == 1
    row = DismissedDuplicate.objects.get()
    assert (row.contact_a_id, row.contact_b_id) == tuple(sorted([ann.pk, bob.pk]))
    assert (row.actor_kind, row.actor_user_id, row.actor_label) == (
        "staff",
        staff_actor.user_id,
        staff_actor.label,
    )
    assert row.dismissed_at is not None


def test_a_dismissal_is_in_both_trails_naming_the_other_by_id_only(twins, staff_actor):
    ann, bob = twins
    dismiss_duplicate(actor=staff_actor, contact=ann, other=bob)
    dismiss_duplicate(actor=staff_actor, contact=bob, other=ann)  # already done: no new entry

    entries = AuditEntry.objects.filter(action="duplicate.dismiss")
    assert {e.contact_id: e.changes for e in entries} == {
        ann.pk: {"not_duplicate_of": [None, str(bob.pk)]},
        bob.pk: {"not_duplicate_of": [None, str(ann.pk)]},
    }
    # Erasing one scrubs only the entries about them: the other's must not hold their name.
    assert all(e.actor_label == staff_actor.label and "Ann" not in e.object_repr for e in entries)


def test_undoing_a_dismissal_suggests_the_pair_again(twins, staff_actor):
    ann, bob = twins
    dismiss_duplicate(actor=staff_actor, contact=ann, other=bob)

    assert undo_dismissal(actor=staff_actor, contact=bob, other=ann) is True

    assert not DismissedDuplicate.objects.exists()
    assert suggested_pairs() == [{"ann@example.com", "bob@example.com"}]
    undone = AuditEntry.objects.filter(action="duplicate.undo_dismiss")
    assert {e.contact_id: e.changes["not_duplicate_of"] for e in undone} == {
        ann.pk: [str(bob.pk), None],
        bob.pk: [str(ann.pk), None],
    }
    # Nothing left to undo: nothing happens.
    assert undo_dismissal(actor=staff_actor, contact=ann, other=bob) is False
    assert undone.count() == 2


def history_of(contact: Contact) -> list[tuple[str, str, str]]:
    """The contact's history lines about duplicates: (description, actor kind, actor label)."""
    lines = Interaction.objects.filter(contact=contact, name=duplicate_service.NOT_DUPLICATE)
    return [
        (i.description, i.actor_kind, i.actor_label) for i in lines.order_by("occurred_at", "pk")
    ]


def test_a_dismissal_and_its_undo_are_in_both_contacts_history(twins, staff_actor):
    ann, bob = twins
    dismiss_duplicate(actor=staff_actor, contact=ann, other=bob)
    dismiss_duplicate(actor=staff_actor, contact=bob, other=ann)  # already done: no new line
    undo_dismissal(actor=staff_actor, contact=ann, other=bob)
    undo_dismissal(actor=staff_actor, contact=ann, other=bob)  # nothing to undo: no new line

    # Bob has no last name here, so he is named by his full name "Bob", as on the page.
    assert history_of(ann) == [
        ("Marked as not a duplicate of Bob", "staff", "sam"),
        ("Undid “not a duplicate” of Bob", "staff", "sam"),
    ]
    assert history_of(bob) == [
        ("Marked as not a duplicate of Ann", "staff", "sam"),
        ("Undid “not a duplicate” of Ann", "staff", "sam"),
    ]
    line = Interaction.objects.filter(contact=ann).first()
    assert line.actor_user_id == staff_actor.user_id
    assert line.data == {"other_contact": str(bob.pk)}


def test_the_contact_page_history_says_who_marked_the_pair_not_a_duplicate(htmx_client, twins):
    ann, bob = twins
    htmx_client.post(reverse("contacts:duplicate_dismiss", args=[ann.pk, bob.pk]))

    body = " ".join(
        htmx_client.get(reverse("contacts:history", args=[bob.pk])).content.decode().split()
    )

    assert "<strong>Marked as not a duplicate of Ann</strong>" in body
    assert '· sam <span class="badge">staff</span>' in body


def test_merging_points_the_lines_naming_the_merged_away_contact_at_the_survivor(
    twins, make_contact, staff_actor
):
    ann, bob = twins
    cat = make_contact(email="cat@example.com", first_name="Cat", phone="+447400120001")
    dismiss_duplicate(actor=staff_actor, contact=cat, other=bob)

    merge_contacts(actor=staff_actor, survivor=ann, duplicate=bob)

    # Bob is Ann now: erasing Ann must find Cat's line about Bob (see test_erasure).
    assert Interaction.objects.get(contact=cat, name=duplicate_service.NOT_DUPLICATE).data == {
        "other_contact": str(ann.pk)
    }
    # Bob's own line came along with the rest of his history.
    assert history_of(ann) == [("Marked as not a duplicate of Cat", "staff", "sam")]


def test_dismissing_a_contact_with_itself_or_a_missing_one_is_refused(twins, staff_actor):
    ann, _ = twins
    with pytest.raises(SwitchboardError) as caught:
        dismiss_duplicate(actor=staff_actor, contact=ann, other=ann.pk)
    assert caught.value.code == "dismiss_same_contact"
    with pytest.raises(SwitchboardError) as caught:
        dismiss_duplicate(
            actor=staff_actor, contact=ann, other="00000000-0000-0000-0000-000000000001"
        )
    assert caught.value.code == "unknown_contact"
    assert not DismissedDuplicate.objects.exists()


def test_in_a_larger_group_the_pairs_not_yet_dismissed_are_still_offered(
    twins, make_contact, staff_actor
):
    ann, bob = twins
    cat = make_contact(email="cat@example.com", first_name="Cat", phone="+447400120001")

    dismiss_duplicate(actor=staff_actor, contact=ann, other=bob)
    groups = find_duplicates()
    assert len(groups) == 1 and len(groups[0].contacts) == 3  # the whole group, for context
    assert {c.email for c in groups[0].pair} == {"ann@example.com", "cat@example.com"}

    dismiss_duplicate(actor=staff_actor, contact=ann, other=cat)
    assert suggested_pairs() == [{"bob@example.com", "cat@example.com"}]
    dismiss_duplicate(actor=staff_actor, contact=cat, other=bob)
    assert suggested_pairs() == []


def test_dismissed_pairs_do_not_use_up_the_limit(make_contact, staff_actor):
    pairs = [
        (
            make_contact(email=f"a{n}@example.com", phone=f"+44740012010{n}"),
            make_contact(email=f"b{n}@example.com", phone=f"+44740012010{n}"),
        )
        for n in range(3)
    ]
    for first, second in pairs[:2]:
        dismiss_duplicate(actor=staff_actor, contact=first, other=second)

    groups = find_duplicates(limit=1)

    assert [{c.email for c in g.pair} for g in groups] == [{"a2@example.com", "b2@example.com"}]


def test_merging_clears_the_dismissals_of_the_merged_away_contact(twins, make_contact, staff_actor):
    ann, bob = twins
    cat = make_contact(email="cat@example.com", first_name="Cat", phone="+447400120001")
    dismiss_duplicate(actor=staff_actor, contact=bob, other=cat)
    dismiss_duplicate(actor=staff_actor, contact=ann, other=cat)

    merge_contacts(actor=staff_actor, survivor=ann, duplicate=bob)

    # Bob's "not Cat" went with Bob; Ann's own dismissal stands.
    assert list(DismissedDuplicate.objects.values_list("contact_a_id", "contact_b_id")) == [
        tuple(sorted([ann.pk, cat.pk]))
    ]
    assert AuditEntry.objects.get(action="contact.merge").changes["dismissals_cleared"] == [1, 0]


def test_merging_a_dismissed_pair_after_all_clears_its_dismissal(twins, staff_actor):
    ann, bob = twins
    dismiss_duplicate(actor=staff_actor, contact=ann, other=bob)
    merge_contacts(actor=staff_actor, survivor=bob, duplicate=ann)
    assert not DismissedDuplicate.objects.exists()


def _triggers(response) -> dict:
    return json.loads(response.headers.get("HX-Trigger", "{}"))


def test_staff_mark_a_pair_as_not_a_duplicate_and_the_row_offers_undo(htmx_client, twins):
    ann, bob = twins
    page = htmx_client.get(reverse("contacts:duplicates")).content.decode()
    dismiss_url = reverse("contacts:duplicate_dismiss", args=[ann.pk, bob.pk])
    assert f'hx-post="{dismiss_url}"' in page

    response = htmx_client.post(dismiss_url)

    assert response.status_code == 200
    row = response.content.decode()
    assert row.strip().startswith("<tr") and "not a duplicate" in row
    assert reverse("contacts:duplicate_undo_dismiss", args=[ann.pk, bob.pk]) in row
    assert "will not be suggested again" in _triggers(response)["toast"]["message"]
    assert DismissedDuplicate.objects.get().actor_label == "sam"
    page = htmx_client.get(reverse("contacts:duplicates")).content.decode()
    assert "ann@example.com" not in page and "No probable duplicates found." in page


def test_staff_see_dismissed_pairs_and_undo_one(htmx_client, twins, staff_actor):
    ann, bob = twins
    dismiss_duplicate(actor=staff_actor, contact=ann, other=bob)
    page = htmx_client.get(reverse("contacts:duplicates") + "?show=dismissed").content.decode()
    assert "ann@example.com" in page and "bob@example.com" in page and "Not duplicates (1)" in page
    # The row links undo in stored order (lower id first), whichever way round it was marked.
    a, b = sorted([ann.pk, bob.pk])
    undo_url = reverse("contacts:duplicate_undo_dismiss", args=[a, b])
    assert f'hx-post="{undo_url}"' in page

    response = htmx_client.post(undo_url)

    assert response.status_code == 200
    assert "Not a duplicate</button>" in response.content.decode()  # the row can be marked again
    assert "suggested again" in _triggers(response)["toast"]["message"]
    assert not DismissedDuplicate.objects.exists()
    assert "ann@example.com" in htmx_client.get(reverse("contacts:duplicates")).content.decode()


def test_dismiss_and_undo_update_the_not_duplicates_count_on_the_page_at_once(
    htmx_client, twins, make_contact, staff_actor
):
    ann, bob = twins
    dismiss_duplicate(
        actor=staff_actor,
        contact=make_contact(email="x@example.com", phone="+447400120009"),
        other=make_contact(email="y@example.com", phone="+447400120009"),
    )
    page = htmx_client.get(reverse("contacts:duplicates")).content.decode()
    # The tab the out-of-band swap targets.
    assert 'id="dismissed-chip"' in page and "Not duplicates (1)</a>" in page
    oob = '<a id="dismissed-chip" hx-swap-oob="innerHTML">Not duplicates ({})</a>'

    dismissed = htmx_client.post(reverse("contacts:duplicate_dismiss", args=[ann.pk, bob.pk]))

    body = dismissed.content.decode()
    assert body.strip().startswith("<tr")  # the row still comes first, for hx-target
    # In a <template>, so that it parses next to a table row.
    assert f"<template>{oob.format(2)}</template>" in body

    undone = htmx_client.post(reverse("contacts:duplicate_undo_dismiss", args=[ann.pk, bob.pk]))

    assert f"<template>{oob.format(1)}</template>" in undone.content.decode()
    assert DismissedDuplicate.objects.count() == 1


def test_without_htmx_the_buttons_post_and_come_back_to_the_page(staff_client, twins):
    ann, bob = twins
    response = staff_client.post(
        reverse("contacts:duplicate_dismiss", args=[bob.pk, ann.pk]), follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("contacts:duplicates")
    assert "will not be suggested again" in response.content.decode()
    assert DismissedDuplicate.objects.count() == 1

    response = staff_client.post(
        reverse("contacts:duplicate_undo_dismiss", args=[bob.pk, ann.pk]), follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("contacts:duplicates") + "?show=dismissed"
    assert not DismissedDuplicate.objects.exists()


def test_dismissing_a_pair_that_is_gone_or_the_same_contact_twice(htmx_client, twins):
    ann, bob = twins
    gone = reverse(
        "contacts:duplicate_dismiss", args=[ann.pk, "00000000-0000-0000-0000-000000000001"]
    )
    assert htmx_client.post(gone).status_code == 404
    response = htmx_client.post(reverse("contacts:duplicate_dismiss", args=[ann.pk, ann.pk]))
    assert response.status_code == 204  # nothing to swap: the row stays
    assert _triggers(response)["toast"]["level"] == "error"
    assert (
        htmx_client.get(reverse("contacts:duplicate_dismiss", args=[ann.pk, bob.pk])).status_code
        == 405
    )
    assert not DismissedDuplicate.objects.exists()


def test_a_click_on_a_pair_merged_or_erased_meanwhile_says_so_instead_of_doing_nothing(
    htmx_client, staff_client, twins, staff_actor
):
    ann, bob = twins
    merge_contacts(actor=staff_actor, survivor=ann, duplicate=bob)

    for name in ("contacts:duplicate_dismiss", "contacts:duplicate_undo_dismiss"):
        response = htmx_client.post(reverse(name, args=[ann.pk, bob.pk]))
        assert response.status_code == 404  # nothing to swap: the row stays
        toast = _triggers(response)["toast"]
        assert toast["level"] == "error"
        assert toast["message"].startswith("One of these contacts no longer exists")

    response = staff_client.post(
        reverse("contacts:duplicate_dismiss", args=[ann.pk, bob.pk]), follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("contacts:duplicates")
    assert "One of these contacts no longer exists" in response.content.decode()
    assert not DismissedDuplicate.objects.exists()


def test_the_duplicates_page_runs_a_fixed_number_of_queries(
    staff_client, make_contact, staff_actor, django_assert_max_num_queries
):
    def pair(n: int) -> tuple[Contact, Contact]:
        phone = f"+4474001202{n:02d}"
        return (
            make_contact(email=f"a{n}@example.com", phone=phone),
            make_contact(email=f"b{n}@example.com", phone=phone),
        )

    first = pair(0)
    dismiss_duplicate(actor=staff_actor, contact=first[0], other=first[1])
    pair(1)
    suggested, dismissed = (
        reverse("contacts:duplicates"),
        reverse("contacts:duplicates") + "?show=dismissed",
    )
    with_one = queries_to_get(staff_client, suggested), queries_to_get(staff_client, dismissed)
    for n in range(2, 30):
        a, b = pair(n)
        if n % 2:
            dismiss_duplicate(actor=staff_actor, contact=a, other=b)

    # The dismissed pairs, the finders (no aliasable mailboxes or similar names here), the
    # contacts in one go and the dismissed count; or the count and the dismissed pairs with
    # both contacts joined. Plus the session, user, groups and approvals badge of every page.
    with django_assert_max_num_queries(11):
        page = staff_client.get(suggested).content.decode()
    assert page.count('data-testid="pair"') == 15
    with django_assert_max_num_queries(6):
        page = staff_client.get(dismissed).content.decode()
    assert page.count('data-testid="pair"') == 15
    assert (queries_to_get(staff_client, suggested), queries_to_get(staff_client, dismissed)) == (
        with_one
    ), "a query per row (N+1)"
