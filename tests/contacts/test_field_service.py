"""contacts.services.fields: custom field definitions and their typed values."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from contacts.models import Field, FieldValue
from contacts.services import contacts as contact_service
from contacts.services import fields as field_service
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_field(staff_actor):
    def make(name: str, type: str = "text") -> Field:
        return field_service.create_field(actor=staff_actor, name=name, type=type)

    return make


# --- definitions ------------------------------------------------------------------------------


def test_it_creates_a_field_and_audits_it(staff_actor, staff_user):
    field = field_service.create_field(actor=staff_actor, name="  Shoe   size ", type="number")

    assert (field.name, field.type) == ("Shoe size", "number")
    entry = AuditEntry.objects.get(action="field.create")
    assert entry.actor_user == staff_user
    assert entry.changes == {"name": [None, "Shoe size"], "type": [None, "number"]}


@pytest.mark.parametrize("name", ["", "1st", "_hidden", "a" * 65, "emoji 🙂", "semi;colon"])
def test_it_refuses_an_invalid_field_name(staff_actor, name):
    with pytest.raises(SwitchboardError) as caught:
        field_service.create_field(actor=staff_actor, name=name, type="text")

    assert (caught.value.code, caught.value.field) == ("invalid_field_name", "name")
    assert not Field.objects.exists()


def test_it_refuses_an_unknown_field_type(staff_actor):
    with pytest.raises(SwitchboardError) as caught:
        field_service.create_field(actor=staff_actor, name="Colour", type="colour")

    assert (caught.value.code, caught.value.field) == ("invalid_field_type", "type")
    assert not Field.objects.exists()


@pytest.mark.parametrize("other", ["Plan", "plan", "PLAN "])
def test_it_refuses_a_duplicate_field_name_in_any_letter_case(staff_actor, make_field, other):
    make_field("Plan")

    with pytest.raises(SwitchboardError) as caught:
        field_service.create_field(actor=staff_actor, name=other, type="number")

    assert caught.value.code == "duplicate_field"
    assert Field.objects.get().type == "text"


def test_it_renames_a_field_and_audits_it(staff_actor, make_field):
    field = make_field("Favourite colour")

    field_service.rename_field(actor=staff_actor, field=field, name="Colour")

    field.refresh_from_db()
    assert field.name == "Colour"
    entry = AuditEntry.objects.get(action="field.rename")
    assert entry.changes == {"name": ["Favourite colour", "Colour"]}


def test_renaming_to_a_name_in_use_is_refused(staff_actor, make_field):
    make_field("Plan")
    field = make_field("Tier")

    with pytest.raises(SwitchboardError) as caught:
        field_service.rename_field(actor=staff_actor, field=field, name="plan")

    assert caught.value.code == "duplicate_field"
    field.refresh_from_db()
    assert field.name == "Tier"


def test_renaming_a_field_to_a_new_case_of_its_own_name_is_allowed(staff_actor, make_field):
    field = make_field("plan")

    field_service.rename_field(actor=staff_actor, field=field, name="Plan")

    assert Field.objects.get().name == "Plan"


def test_deleting_a_field_deletes_its_values_and_records_how_many(
    staff_actor, make_field, make_contact
):
    field = make_field("Plan")
    make_contact(fields={"Plan": "pro"})
    make_contact(fields={"Plan": "free"})

    field_service.delete_field(actor=staff_actor, field=field)

    assert not Field.objects.exists()
    assert not FieldValue.objects.exists()
    entry = AuditEntry.objects.get(action="field.delete")
    assert entry.changes == {"name": ["Plan", None], "values": [2, 0]}


def test_get_field_by_name_ignores_case_and_answers_unknown_field(make_field):
    field = make_field("Plan")

    assert field_service.get_field_by_name(" PLAN ") == field
    with pytest.raises(SwitchboardError) as caught:
        field_service.get_field_by_name("Tier")
    assert caught.value.code == "unknown_field"


# --- typed values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type", "raw", "expected"),
    [
        ("text", "  hello ", "hello"),
        ("text", 42, "42"),
        ("number", "42", decimal.Decimal("42")),
        ("number", "-1,250.5", decimal.Decimal("-1250.5")),
        ("number", "12,345,678", decimal.Decimal("12345678")),
        ("number", 3.25, decimal.Decimal("3.25")),
        ("number", 7, decimal.Decimal("7")),
        # Kept to the six decimals stored, as documented: float noise from a spreadsheet or an
        # agent's arithmetic must not make a row invalid.
        ("number", "1.23456789", decimal.Decimal("1.234568")),
        ("number", 0.1 + 0.2, decimal.Decimal("0.3")),
        ("date", "2024-02-29", dt.date(2024, 2, 29)),
        ("date", dt.date(2020, 1, 2), dt.date(2020, 1, 2)),
        ("date", dt.datetime(2020, 1, 2, 13, 0), dt.date(2020, 1, 2)),
        ("boolean", True, True),
        ("boolean", "Yes", True),
        ("boolean", "on", True),
        ("boolean", "0", False),
        ("boolean", "false", False),
        ("text", "", None),
        ("number", "   ", None),
        ("date", None, None),
    ],
)
def test_values_are_parsed_by_the_field_type(make_field, type, raw, expected):
    field = make_field("Value", type)

    assert field_service.parse_value(field, raw) == expected


@pytest.mark.parametrize(
    ("type", "raw", "expects"),
    [
        ("number", "forty", "a number"),
        # A decimal comma is not a thousands separator: 1,5 is not fifteen.
        ("number", "12,50", "a point for decimals"),
        ("number", "1,2345", "a point for decimals"),
        ("number", True, "a number"),
        ("number", "NaN", "finite number"),
        ("number", "Infinity", "finite number"),
        ("number", "1e20", "finite number"),
        # Rounded to the six decimals stored, it would be 10^14: more than the column holds.
        ("number", "99999999999999.9999999", "below 10^14"),
        ("number", "-99999999999999.9999995", "below 10^14"),
        ("number", "1,5", "a point for decimals"),  # a decimal comma is not a separator
        ("number", "1.250,5", "a point for decimals"),
        ("date", "17/05/1990", "YYYY-MM-DD"),
        ("date", "2023-02-30", "YYYY-MM-DD"),
        ("boolean", "maybe", "true or false"),
        ("boolean", 2, "true or false"),
        ("text", "x" * 2001, "at most 2000 characters"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_with_what_was_expected(
    make_field, type, raw, expects
):
    field = make_field("Value", type)

    with pytest.raises(SwitchboardError) as caught:
        field_service.parse_value(field, raw)

    assert caught.value.code == "invalid_field_value"
    assert caught.value.field == "Value"
    assert expects in caught.value.message


def test_resolve_values_validates_every_value_before_anything_is_written(make_field):
    age = make_field("Age", "number")
    vip = make_field("VIP", "boolean")

    assert field_service.resolve_values({"age": "30", "VIP": "yes"}) == {
        age: decimal.Decimal("30"),
        vip: True,
    }
    assert field_service.resolve_values({}) == {}
    with pytest.raises(SwitchboardError) as caught:
        field_service.resolve_values({"age": "30", "Height": "180"})
    assert (caught.value.code, caught.value.field) == ("unknown_field", "Height")


def test_apply_values_writes_changes_and_reports_the_diff(make_field, make_contact):
    age = make_field("Age", "number")
    city = make_field("City")
    contact = make_contact(fields={"Age": "30", "City": "Leeds"})

    changes = field_service.apply_values(
        contact, {age: field_service.parse_value(age, "31"), city: "Leeds"}
    )

    assert changes == {"field:Age": ["30.000000", "31.000000"]}
    assert field_service.current_values(contact) == {"Age": decimal.Decimal("31"), "City": "Leeds"}
    assert field_service.apply_values(contact, {}) == {}


def test_values_are_queryable_by_field_and_value(make_field, make_contact):
    age = make_field("Age", "number")
    young = make_contact(fields={"Age": 20})
    make_contact(fields={"Age": 50})
    make_contact()

    matches = FieldValue.objects.filter(field=age, value_number__lt=30).values_list(
        "contact_id", flat=True
    )

    assert list(matches) == [young.pk]


def test_a_wrong_value_among_good_ones_changes_nothing(staff_actor, make_field, make_contact):
    make_field("Age", "number")
    make_field("City")
    contact = make_contact(fields={"Age": 30, "City": "Leeds"})

    with pytest.raises(SwitchboardError):
        contact_service.update_contact(
            actor=staff_actor, contact=contact, fields={"City": "York", "Age": "thirty"}
        )

    assert field_service.current_values(contact) == {"Age": decimal.Decimal(30), "City": "Leeds"}
