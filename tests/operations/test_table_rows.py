"""dashboard.db.rows: rows written and read without the ORM's query building are stored and
loaded exactly as the ORM stores and loads them."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from django.utils import timezone

from contacts.models import Contact, Field, FieldValue
from dashboard.db import batch
from dashboard.db.rows import table_of

pytestmark = pytest.mark.django_db


def test_a_row_inserted_plainly_reads_back_through_the_orm_unchanged():
    at = timezone.now().replace(microsecond=123456)
    contact_id = uuid.uuid4()
    batch.run(
        [
            table_of(Contact).insert(
                [{"id": contact_id, "email": "plain@example.com", "metadata": {"n": [1, "é"]},
                  "created_at": at, "updated_at": at, "unsubscribed_at": None}]
            )
        ]
    )  # fmt: skip

    contact = Contact.objects.get(pk=contact_id)
    assert (contact.email, contact.metadata, contact.created_at) == (
        "plain@example.com", {"n": [1, "é"]}, at,
    )  # fmt: skip
    assert (contact.version, contact.email_consent, contact.phone) == (1, "unknown", "")


def test_typed_values_round_trip_both_ways():
    contact = Contact.objects.create(email="typed@example.com")
    fields = {t: Field.objects.create(name=f"f {t}", type=t) for t in ("number", "date", "boolean")}
    values = {
        "number": decimal.Decimal("12.500000"),
        "date": dt.date(2026, 2, 28),
        "boolean": False,
    }
    columns = {"number": "value_number", "date": "value_date", "boolean": "value_bool"}
    batch.run(
        [
            table_of(FieldValue).insert(
                [{"contact_id": contact.pk, "field_id": fields[t].pk, columns[t]: values[t]}
                 for t in values]
            )
        ]
    )  # fmt: skip

    stored = {fv.field.type: fv.value for fv in FieldValue.objects.select_related("field")}
    assert stored == values
    table = table_of(FieldValue)
    names = ["contact_id", *columns.values()]
    statement = table.select(names, f"{table.q('field_id')} = %s", [fields["number"].pk])
    [row] = batch.run([statement])[0]
    assert table.values(names, row) == [contact.pk, decimal.Decimal("12.500000"), None, None]


def test_an_update_changes_only_the_given_columns():
    contact = Contact.objects.create(email="before@example.com", first_name="Ann")
    batch.run([table_of(Contact).update(contact.pk, {"first_name": "Bea", "version": 2})])

    contact.refresh_from_db()
    assert (contact.email, contact.first_name, contact.version) == ("before@example.com", "Bea", 2)
