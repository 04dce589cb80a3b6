"""The tag pages: index with member counts, create, rename, delete."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from contacts.models import Contact, Tag
from contacts.services import tags as tag_service
from contacts.services.segments import count_members, create_segment
from dashboard.actors import Actor
from dashboard.models import AuditEntry
from tests.contacts.helpers import queries_to_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(make_contact):
    make_contact(tags=["customer"])
    make_contact(tags=["customer", "lead"])
    return Tag.objects.get(name="customer")


def test_the_index_counts_members_in_one_query(staff_client, customer, make_contact):
    before = queries_to_get(staff_client, reverse("contacts:tags"))
    make_contact(tags=["one", "two", "three"])

    assert queries_to_get(staff_client, reverse("contacts:tags")) == before


def test_the_index_shows_each_tag_with_its_member_count(staff_client, customer):
    response = staff_client.get(reverse("contacts:tags"))

    assert {t.name: t.members for t in response.context["tags"]} == {"customer": 2, "lead": 1}
    assert f"?tag={customer.pk}" in response.content.decode()


def test_staff_create_a_tag(staff_client, staff_user):
    response = staff_client.post(reverse("contacts:tag_create"), {"name": "Partner"})

    assert response.status_code == 302
    assert Tag.objects.get().name == "Partner"
    assert AuditEntry.objects.get(action="tag.create").actor_user == staff_user


def test_a_duplicate_tag_is_refused_next_to_the_name(staff_client, customer):
    response = staff_client.post(reverse("contacts:tag_create"), {"name": "CUSTOMER"})

    assert response.status_code == 422
    assert "A tag named “CUSTOMER” already exists." in response.content.decode()
    assert response.context["form"].errors["name"]
    assert Tag.objects.count() == 2


def test_staff_rename_a_tag(staff_client, customer):
    page = staff_client.get(reverse("contacts:tag_edit", args=[customer.pk]))
    assert page.context["members"] == 2

    response = staff_client.post(
        reverse("contacts:tag_edit", args=[customer.pk]), {"name": "Client"}
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Client"


def test_renaming_to_a_name_in_use_is_refused(staff_client, customer):
    response = staff_client.post(reverse("contacts:tag_edit", args=[customer.pk]), {"name": "Lead"})

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    customer.refresh_from_db()
    assert customer.name == "customer"


def test_deleting_a_tag_keeps_its_contacts(staff_client, customer):
    response = staff_client.post(reverse("contacts:tag_delete", args=[customer.pk]), follow=True)

    assert "Deleted tag customer. Its contacts were kept." in response.content.decode()
    assert not Tag.objects.filter(name="customer").exists()
    assert Contact.objects.count() == 2


def test_the_tag_page_names_the_segments_that_deleting_it_would_break(
    staff_client, staff_actor, customer
):
    by_id = {"all": [{"field": "tag", "op": "has", "value": customer.pk}]}
    by_name = {"any": [{"all": [{"field": "tag", "op": "has_not", "value": "Customer "}]}]}
    create_segment(actor=staff_actor, name="Customers", rules=by_id)
    create_segment(actor=staff_actor, name="Prospects", rules=by_name)
    create_segment(
        actor=staff_actor,
        name="Leads",
        rules={"all": [{"field": "tag", "op": "has", "value": "lead"}]},
    )

    body = staff_client.get(reverse("contacts:tag_edit", args=[customer.pk])).content.decode()

    assert "Used by 2 segments" in body
    assert ">Customers</a>" in body and ">Prospects</a>" in body and "Leads" not in body


def test_renaming_a_tag_keeps_the_segments_that_name_it_working(
    staff_client, staff_actor, customer
):
    rules = {"all": [{"field": "tag", "op": "has", "value": "customer"}]}
    segment = create_segment(actor=staff_actor, name="Customers", rules=rules)

    staff_client.post(reverse("contacts:tag_edit", args=[customer.pk]), {"name": "client"})
    # Someone reuses the old name: the segment must not start meaning the new tag.
    tag_service.create_tag(actor=staff_actor, name="customer")

    segment.refresh_from_db()
    assert segment.rules == {"all": [{"field": "tag", "op": "has", "value": "client"}]}
    assert count_members(segment) == 2
    entry = AuditEntry.objects.filter(action="segment.update", object_id=str(segment.pk)).get()
    assert entry.actor_label == "sam"


def test_renaming_to_a_name_in_use_offers_to_merge_and_the_merge_goes_through(
    staff_client, customer
):
    lead = Tag.objects.get(name="lead")
    url = reverse("contacts:tag_edit", args=[customer.pk])

    refused = staff_client.post(url, {"name": "Lead"}).content.decode()
    assert "merge this tag into it below" in refused
    assert reverse("contacts:tag_merge", args=[customer.pk]) in refused

    response = staff_client.post(
        reverse("contacts:tag_merge", args=[customer.pk]), {"into": lead.pk}, follow=True
    )

    assert "Merged customer into lead: 1 contact gained lead." in response.content.decode()
    assert not Tag.objects.filter(name="customer").exists()
    assert lead.contact_tags.count() == 2


def test_merging_without_choosing_a_tag_says_so(staff_client, customer):
    response = staff_client.post(reverse("contacts:tag_merge", args=[customer.pk]), {"into": ""})

    assert response.status_code == 422
    assert "Choose a tag." in response.content.decode()
    assert Tag.objects.filter(pk=customer.pk).exists()


def test_merging_into_a_tag_deleted_since_the_page_loaded_says_it_is_gone(
    staff_client, customer, staff_actor
):
    lead = Tag.objects.get(name="lead")
    lead_id = lead.pk
    tag_service.delete_tag(actor=staff_actor, tag=lead)

    response = staff_client.post(
        reverse("contacts:tag_merge", args=[customer.pk]), {"into": lead_id}
    )

    assert response.status_code == 422
    page = response.content.decode()
    assert "The tag chosen to merge into no longer exists." in page
    assert "Choose a tag." not in page
    assert Tag.objects.filter(pk=customer.pk).exists()


def test_saving_a_tag_page_unchanged_leaves_the_segments_naming_it_alone(
    staff_client, customer, staff_actor
):
    rules = {"all": [{"field": "tag", "op": "has", "value": "customer"}]}
    segment = create_segment(actor=staff_actor, name="Customers", rules=rules)
    editor = reverse("contacts:segment_edit", args=[segment.pk])
    loaded_at = segment.updated_at.isoformat()  # someone has the builder open

    response = staff_client.post(
        reverse("contacts:tag_edit", args=[customer.pk]), {"name": "customer"}
    )

    assert response.status_code == 302
    assert not AuditEntry.objects.filter(action__in=["segment.update", "tag.rename"]).exists()
    saved = staff_client.post(
        editor,
        {"name": "Customers", "loaded_at": loaded_at, "r:match": "all",
         "r.0:field": "tag", "r.0:op": "has", "r.0:value": str(customer.pk)},
    )  # fmt: skip
    assert saved.status_code == 302, "the builder's save was refused as a conflict"


def test_renaming_a_tag_a_colleague_renamed_meanwhile_is_refused_not_undone(
    staff_client, customer, admin_user
):
    page = staff_client.get(reverse("contacts:tag_edit", args=[customer.pk]))
    loaded = {
        name: page.context["form"][name].value() or "" for name in page.context["form"].fields
    }
    tag_service.rename_tag(actor=Actor.staff(admin_user), tag=customer, name="Client")

    response = staff_client.post(
        reverse("contacts:tag_edit", args=[customer.pk]), {**loaded, "name": "Customers"}
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "This tag was renamed to “Client” by ada while you were editing" in body
    assert 'value="Customers"' in body
    customer.refresh_from_db()
    assert customer.name == "Client"


def test_a_double_clicked_rename_is_not_a_conflict_with_its_own_first_click(staff_client, customer):
    page = staff_client.get(reverse("contacts:tag_edit", args=[customer.pk]))
    loaded = {
        name: page.context["form"][name].value() or "" for name in page.context["form"].fields
    }
    data = {**loaded, "name": "Client"}

    first = staff_client.post(reverse("contacts:tag_edit", args=[customer.pk]), data)
    second = staff_client.post(reverse("contacts:tag_edit", args=[customer.pk]), data)

    assert (first.status_code, second.status_code) == (302, 302)
    customer.refresh_from_db()
    assert customer.name == "Client"


def test_a_create_form_sent_twice_says_created_not_already_exists(staff_client, customer):
    page = staff_client.get(reverse("contacts:tags"))
    after = re.search(r'type="hidden" name="after_tag" value="(\d+)"', page.content.decode())
    assert after, "the create form says which tags existed when it was drawn"
    data = {"name": "Partner", "after_tag": after.group(1)}

    # A double click (or a resubmit) posts the same form twice; the browser shows the second.
    staff_client.post(reverse("contacts:tag_create"), data)
    second = staff_client.post(reverse("contacts:tag_create"), data, follow=True)

    assert second.status_code == 200
    assert "Created tag Partner." in second.content.decode()
    assert Tag.objects.filter(name="Partner").count() == 1
    # A colleague's tag of that name, or one from before the form was drawn, is still refused.
    again = staff_client.post(reverse("contacts:tag_create"), {**data, "name": "customer"})
    assert again.status_code == 422
    assert "already exists" in again.content.decode()


def test_deleting_a_tag_a_colleague_deleted_meanwhile_says_so(staff_client, customer, admin_user):
    gone = customer.pk
    tag_service.delete_tag(actor=Actor.staff(admin_user), tag=customer)

    response = staff_client.post(reverse("contacts:tag_delete", args=[gone]), follow=True)

    assert response.status_code == 200
    assert "The tag customer was already deleted by ada." in response.content.decode()


def test_deleting_a_tag_a_colleague_merged_meanwhile_says_where_it_went(
    staff_client, customer, admin_user
):
    gone, lead = customer.pk, Tag.objects.get(name="lead")
    tag_service.merge_tags(actor=Actor.staff(admin_user), source=customer, target=lead)

    response = staff_client.post(reverse("contacts:tag_delete", args=[gone]), follow=True)

    assert "The tag customer was already merged into lead by ada." in response.content.decode()
    assert Tag.objects.filter(name="lead").exists()


def test_renaming_or_merging_a_tag_a_colleague_merged_meanwhile_says_so(
    staff_client, customer, admin_user
):
    gone, lead = customer.pk, Tag.objects.get(name="lead")
    tag_service.merge_tags(actor=Actor.staff(admin_user), source=customer, target=lead)

    renamed = staff_client.post(
        reverse("contacts:tag_edit", args=[gone]), {"name": "C"}, follow=True
    )
    merged = staff_client.post(
        reverse("contacts:tag_merge", args=[gone]), {"into": lead.pk}, follow=True
    )

    for response in (renamed, merged):
        assert response.status_code == 200
        assert "The tag customer was already merged into lead by ada." in response.content.decode()
