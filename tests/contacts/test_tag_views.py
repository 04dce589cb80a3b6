"""The tag pages: index with member counts, create, rename, delete."""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts.models import Contact, Tag
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
