"""The PostgreSQL backend sends BEGIN and savepoints along with the next statement, and checks
a reused connection's health without a round trip. Each test counts what reaches the server
(one ``execute`` of psycopg's cursor is one round trip) and checks the transaction still
behaves as Django's own backend makes it behave."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import DataError, IntegrityError, connection, transaction

from contacts.models import ContactList, Tag
from dashboard.db.postgresql.base import DeferringCursor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the PostgreSQL backend's behaviour"
    ),
]


def test_a_transaction_sends_its_begin_and_savepoints_with_its_first_statement(sent):
    with transaction.atomic(), transaction.atomic():
        assert not Tag.objects.filter(name="x").exists()
        Tag.objects.create(name="x")

    assert len(sent) == 3  # the look-up, the INSERT, COMMIT
    assert sent[0].startswith("BEGIN; SAVEPOINT ")
    assert sent[1].startswith('INSERT INTO "contacts_tag"')
    assert sent[2] == "COMMIT"  # the RELEASE before it was pointless, so never sent
    assert Tag.objects.filter(name="x").exists()


def test_blocks_that_run_nothing_send_nothing(sent):
    with transaction.atomic():
        with transaction.atomic():
            pass
        try:
            with transaction.atomic():
                raise ValueError
        except ValueError:
            pass

    assert sent == []


def test_rolling_back_to_a_savepoint_undoes_only_what_ran_inside_it(sent):
    with transaction.atomic():
        ContactList.objects.create(name="kept")
        with pytest.raises(IntegrityError), transaction.atomic():
            Tag.objects.create(name="twice")
            Tag.objects.create(name="TWICE")  # the unique index on LOWER(name)
        ContactList.objects.create(name="after")

    assert sorted(ContactList.objects.values_list("name", flat=True)) == ["after", "kept"]
    assert not Tag.objects.exists()
    assert any(q.startswith("ROLLBACK TO SAVEPOINT ") for q in sent)


def test_a_value_refused_before_sending_keeps_the_savepoint_waiting():
    # psycopg refuses a NUL in a string while binding, before anything is sent: the queued
    # BEGIN and SAVEPOINT must still go out with the next statement.
    with transaction.atomic():
        with pytest.raises(DataError), transaction.atomic():
            Tag.objects.filter(name="nul\x00").exists()
        Tag.objects.create(name="fine")

    assert Tag.objects.filter(name="fine").exists()


def test_a_rollback_after_statements_undoes_them(sent):
    with pytest.raises(RuntimeError), transaction.atomic():
        Tag.objects.create(name="gone")
        raise RuntimeError

    assert "ROLLBACK" in sent
    assert not Tag.objects.exists()


def test_copy_and_server_side_cursors_work_inside_a_transaction():
    with transaction.atomic():
        with connection.cursor() as cursor:
            raw = cursor.cursor
            assert isinstance(raw, DeferringCursor)
            with raw.copy("COPY contacts_tag (name, created_at) FROM STDIN") as copy:
                for n in range(3):
                    copy.write_row([f"copied {n}", "2026-01-01T00:00:00Z"])
        names = [t.name for t in Tag.objects.order_by("name").iterator(chunk_size=2)]

    assert names == ["copied 0", "copied 1", "copied 2"]


def test_a_healthy_idle_connection_is_usable_without_asking_the_server(sent):
    Tag.objects.exists()
    sent.clear()

    assert connection.is_usable()
    assert sent == []


def test_a_connection_the_server_ended_is_not_usable():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    params = {**connection.get_connection_params(), "cursor_factory": psycopg.ClientCursor}
    with psycopg.connect(**params) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.05)

    assert not connection.is_usable()
    connection.close()
    assert not Tag.objects.exists()  # a new connection
