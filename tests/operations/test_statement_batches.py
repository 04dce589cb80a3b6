"""dashboard.db.batch: statements sent together, each with its own rows."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from contacts.models import Tag
from dashboard.db import batch
from dashboard.db.batch import Statement

pytestmark = pytest.mark.django_db


def test_each_statement_answers_with_its_own_rows():
    Tag.objects.create(name="vip")

    rows = batch.run(
        [
            Statement("SELECT name FROM contacts_tag WHERE name = %s", ["vip"]),
            Statement("UPDATE contacts_tag SET name = %s WHERE name = %s", ["VIP", "vip"]),
            Statement("SELECT name FROM contacts_tag WHERE name = %s", ["nobody"]),
            Statement("SELECT CAST(%s AS INTEGER), '100%%'", [7]),
        ]
    )

    assert rows == [[("vip",)], [], [], [(7, "100%")]]
    assert Tag.objects.get().name == "VIP"


def test_an_error_stops_the_batch_and_is_raised():
    with pytest.raises(DatabaseError), transaction.atomic():
        batch.run(
            [
                Statement(
                    "INSERT INTO contacts_tag (name, created_at) VALUES ('a', %s)", ["2026-01-01"]
                ),
                Statement("SELECT * FROM no_such_table"),
                Statement(
                    "INSERT INTO contacts_tag (name, created_at) VALUES ('b', %s)", ["2026-01-01"]
                ),
            ]
        )

    assert not Tag.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no round trips")
def test_postgresql_gets_the_whole_batch_in_one_round_trip(sent):
    rows = batch.run([Statement("SELECT CAST(%s AS INTEGER)", [n]) for n in range(5)])

    assert rows == [[(n,)] for n in range(5)]
    assert len(sent) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are kept on PostgreSQL")
def test_a_statement_is_prepared_once_per_session_and_again_after_an_error(sent):
    Tag.objects.create(name="vip")
    look_up = Statement("SELECT name FROM contacts_tag WHERE LOWER(name) = LOWER(%s)", ["VIP"])

    first, second = batch.run([look_up]), batch.run([look_up])
    with pytest.raises(DatabaseError), transaction.atomic():
        batch.run([look_up, Statement("SELECT * FROM no_such_table", prepare=False)])
    third = batch.run([look_up])

    assert first == second == third == [[("vip",)]]
    assert [q.count("PREPARE ") for q in sent[-4:]] == [1, 0, 0, 1]
    assert "DEALLOCATE ALL;" in sent[-1]
