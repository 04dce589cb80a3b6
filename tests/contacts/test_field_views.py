"""The custom field pages: index with value counts, create, rename, delete."""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts.models import Field, FieldValue
from contacts.services import fields as field_service
from contacts.services.segments import count_members, create_segment
from dashboard.models import AuditEntry
from tests.contacts.helpers import queries_to_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def age(staff_actor, make_contact):
    field = field_service.create_field(actor=staff_actor, name="Age", type="number")
    make_contact(fields={"Age": 30})
    make_contact(fields={"Age": 40})
    make_contact()
    return field


def test_the_index_counts_values_in_one_query(staff_client, age, staff_actor):
    before = queries_to_get(staff_client, reverse("contacts:fields"))
    for name in ("Plan", "Seats", "Region"):
        field_service.create_field(actor=staff_actor, name=name, type="text")

    assert queries_to_get(staff_client, reverse("contacts:fields")) == before


def test_the_index_shows_each_field_with_its_value_count(staff_client, age, staff_actor):
    field_service.create_field(actor=staff_actor, name="Birthday", type="date")

    response = staff_client.get(reverse("contacts:fields"))

    assert {f.name: f.members for f in response.context["fields"]} == {"Age": 2, "Birthday": 0}
    assert "Number" in response.content.decode() and "Date" in response.content.decode()


def test_staff_create_a_field(staff_client, staff_user):
    response = staff_client.post(reverse("contacts:field_create"), {"name": "Plan", "type": "text"})

    assert response.status_code == 302
    assert Field.objects.get().name == "Plan"
    assert AuditEntry.objects.get(action="field.create").actor_user == staff_user


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "age", "type": "text"}, "A field named “age” already exists."),
        ({"name": "9 lives", "type": "text"}, "A field name starts with a letter"),
        ({"name": "Colour", "type": "colour"}, "Select a valid choice."),
    ],
)
def test_a_bad_field_is_refused_with_its_message(staff_client, age, data, message):
    response = staff_client.post(reverse("contacts:field_create"), data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert Field.objects.count() == 1


def test_staff_rename_a_field(staff_client, age):
    page = staff_client.get(reverse("contacts:field_edit", args=[age.pk]))
    assert page.context["members"] == 2

    response = staff_client.post(reverse("contacts:field_edit", args=[age.pk]), {"name": "Years"})

    assert response.status_code == 302
    age.refresh_from_db()
    assert age.name == "Years"


def test_renaming_a_field_to_an_invalid_name_is_refused(staff_client, age):
    response = staff_client.post(reverse("contacts:field_edit", args=[age.pk]), {"name": "-"})

    assert "A field name starts with a letter" in response.content.decode()
    age.refresh_from_db()
    assert age.name == "Age"


def test_deleting_a_field_deletes_its_values(staff_client, age):
    response = staff_client.post(reverse("contacts:field_delete", args=[age.pk]), follow=True)

    assert "Deleted field Age and its values." in response.content.decode()
    assert not FieldValue.objects.exists()


def test_the_field_page_names_the_segments_that_deleting_it_would_break(
    staff_client, staff_actor, age
):
    rules = {"all": [{"field": f"custom:{age.pk}", "op": "gt", "value": 35}]}
    create_segment(actor=staff_actor, name="Over 35", rules=rules)

    body = staff_client.get(reverse("contacts:field_edit", args=[age.pk])).content.decode()

    assert "Used by 1 segment:" in body and ">Over 35</a>" in body


def test_renaming_a_field_keeps_the_segments_that_name_it_working(staff_client, staff_actor, age):
    rules = {"all": [{"field": "custom:age", "op": "gt", "value": 35}]}
    segment = create_segment(actor=staff_actor, name="Over 35", rules=rules)

    staff_client.post(reverse("contacts:field_edit", args=[age.pk]), {"name": "Age in years"})

    segment.refresh_from_db()
    assert segment.rules["all"][0]["field"] == "custom:Age in years"
    assert count_members(segment) == 1


def test_saving_a_field_page_unchanged_records_nothing(staff_client, staff_actor, age):
    rules = {"all": [{"field": f"custom:{age.name}", "op": "gt", "value": 35}]}
    segment = create_segment(actor=staff_actor, name="Over 35", rules=rules)
    loaded = segment.updated_at

    response = staff_client.post(reverse("contacts:field_edit", args=[age.pk]), {"name": age.name})

    assert response.status_code == 302
    assert not AuditEntry.objects.filter(action__in=["segment.update", "field.rename"]).exists()
    segment.refresh_from_db()
    assert segment.updated_at == loaded
