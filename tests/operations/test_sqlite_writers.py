"""The SQLite backend's writers' turn: a transaction waits for the one in progress and starts
as soon as it ends (commit, rollback or a closed connection), instead of sleeping in SQLite's
busy handler. Each test opens its own connections to a database file of its own."""

from __future__ import annotations

import threading
import time

import pytest
from django.db.utils import ConnectionHandler

from dashboard.db.sqlite.base import WriterTurn


@pytest.fixture(autouse=True)
def _own_databases(django_db_blocker):
    # These connections are to files of the tests' own, never the test database.
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def connect(tmp_path):
    path = str(tmp_path / "turns.sqlite3")
    opened = []

    def open_one(timeout: float = 20):
        handler = ConnectionHandler(
            {
                "default": {
                    "ENGINE": "dashboard.db.sqlite",
                    "NAME": path,
                    "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": timeout},
                }
            }
        )
        connection = handler["default"]
        opened.append(connection)
        return connection

    first = open_one()
    with first.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("CREATE TABLE note (text TEXT)")
    yield open_one, path
    for connection in opened:
        connection.close()


def _begin(connection) -> None:
    """What ``transaction.atomic`` does first on SQLite."""
    connection.ensure_connection()
    connection._start_transaction_under_autocommit()


def test_a_second_writer_waits_for_the_first_and_starts_when_it_commits(connect):
    open_one, _ = connect
    first, second = open_one(), open_one()
    _begin(first)
    with first.cursor() as cursor:
        cursor.execute("INSERT INTO note VALUES ('first')")
    began = threading.Event()
    seen: list[int] = []
    held: list[bool] = []

    def write_second() -> None:
        second.inc_thread_sharing()
        _begin(second)
        held.append(second._turn.held)
        began.set()
        with second.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM note")
            seen.append(cursor.fetchone()[0])
            cursor.execute("INSERT INTO note VALUES ('second')")
        second.commit()

    thread = threading.Thread(target=write_second)
    thread.start()
    assert not began.wait(0.2), "the second writer began while the first held its turn"
    first.commit()
    assert began.wait(5)
    thread.join(5)
    assert held == [True]  # it waited for its turn, not in SQLite's busy handler
    assert seen == [1]  # it started after the first committed, and saw its row
    with first.cursor() as cursor:
        cursor.execute("SELECT text FROM note ORDER BY rowid")
        assert [row[0] for row in cursor.fetchall()] == ["first", "second"]


def test_the_turn_is_given_back_on_rollback_and_on_close(connect):
    open_one, path = connect
    writer = open_one()
    other = WriterTurn(f"{path}-writers.lock")
    _begin(writer)
    assert not other.acquire(timeout=0)
    writer.rollback()
    assert other.acquire(timeout=0)
    other.release()

    _begin(writer)
    assert not other.acquire(timeout=0)
    writer.close()
    assert other.acquire(timeout=0)
    other.close()


def test_a_writer_that_waits_past_the_busy_timeout_goes_on_to_sqlite_itself(connect):
    open_one, path = connect
    stuck = WriterTurn(f"{path}-writers.lock")
    assert stuck.acquire(timeout=0)  # say a process holds the turn but not the database
    writer = open_one(timeout=0.05)
    start = time.monotonic()
    _begin(writer)
    assert time.monotonic() - start >= 0.05
    with writer.cursor() as cursor:
        cursor.execute("INSERT INTO note VALUES ('anyway')")
    writer.commit()
    stuck.close()


def test_an_in_memory_database_has_no_turn_to_take():
    handler = ConnectionHandler({"default": {"ENGINE": "dashboard.db.sqlite", "NAME": ":memory:"}})
    connection = handler["default"]
    _begin(connection)
    connection.commit()
    assert connection._turn is None
    connection.close()


def test_a_forked_process_does_not_give_back_its_parents_turn(connect):
    import os

    open_one, path = connect
    writer = open_one()
    _begin(writer)
    pid = os.fork()
    if pid == 0:  # the child closes what it inherited, as a process pool's worker may
        writer._turn.close()
        os._exit(0)
    os.waitpid(pid, 0)
    other = WriterTurn(f"{path}-writers.lock")
    assert not other.acquire(timeout=0)  # the parent still holds it
    writer.commit()
    assert other.acquire(timeout=0)
    other.close()
