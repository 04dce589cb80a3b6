"""Django's SQLite backend, with writers handed the database promptly and in turn.

Every transaction here is ``BEGIN IMMEDIATE`` (settings: the web and the task worker write at
the same time, and a deferred transaction's read-to-write upgrade can fail at once with
"database is locked"). A writer that finds the lock taken waits in SQLite's busy handler,
which sleeps in growing steps (1, 2, 5, 10, 15, 20, 25 ms…) and never queues: a process that
commits and begins again at once takes the lock back before the sleeper looks, so under
steady load one gunicorn worker starves the other and latency climbs by tens of
milliseconds for a lock held a few.

So each transaction first takes an advisory file lock beside the database, polled every
fraction of a millisecond. Writers wait their turn there, and the SQLite lock they then
ask for is almost always free. Single statements in autocommit mode skip it and fall back to
the busy handler, as before. An in-memory database has no second process to wait for.

Each connection also replaces SQLite's ``LOWER()``, which folds only A-Z, with Python's
``str.lower`` (see ``_lower``).
"""

from __future__ import annotations

import fcntl
import os
import time

from django.db.backends.sqlite3 import base

POLL_FIRST = 0.0002  # seconds between tries while the lock is taken, growing to POLL_MAX
POLL_MAX = 0.002


class WriterTurn:
    """An exclusive ``flock`` on ``path``, tried until ``timeout`` seconds have passed."""

    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None
        self.held = False
        self.pid = os.getpid()

    def acquire(self, timeout: float) -> bool:
        self._forget_if_forked()
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        pause = POLL_FIRST
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False  # carry on without it: SQLite's busy timeout has the last word
                time.sleep(pause)
                pause = min(pause * 2, POLL_MAX)
            else:
                self.held = True
                return True

    def _forget_if_forked(self) -> None:
        """A forked process (the import's cleaning pool) inherits this object and the open
        file, which shares the parent's lock: it must neither unlock nor close it."""
        if self.pid != os.getpid():
            self.pid, self.fd, self.held = os.getpid(), None, False

    def release(self) -> None:
        self._forget_if_forked()
        if self.held:
            self.held = False
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.release()  # forgets an inherited file first
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _lower(value: object) -> object:
    """LOWER() that folds every letter, as PostgreSQL's does ("Émile" and "émile" are one tag
    on both). Tag and custom-field names are unique on LOWER(name), and every look-up by name
    compares LOWER() on both sides, so they all agree. Deterministic, as an index expression
    needs. Indexes built before this replaced the built-in hold "É" unfolded: on an existing
    database with such names, ``REINDEX tag_name_unique_ci; REINDEX field_name_unique_ci``."""
    return value.lower() if isinstance(value, str) else value


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._turn: WriterTurn | None = None

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        connection.create_function("LOWER", 1, _lower, deterministic=True)
        return connection

    def _writer_turn(self) -> WriterTurn | None:
        if self.is_in_memory_db():
            return None
        if self._turn is None:
            self._turn = WriterTurn(f"{self.settings_dict['NAME']}-writers.lock")
        return self._turn

    def _start_transaction_under_autocommit(self) -> None:
        turn = self._writer_turn()
        if turn is not None:
            turn.acquire(timeout=float(self.settings_dict["OPTIONS"].get("timeout", 5)))
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._end_turn()
            raise

    def _end_turn(self) -> None:
        if self._turn is not None:
            self._turn.release()

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._end_turn()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._end_turn()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            if self._turn is not None:
                self._turn.close()
                self._turn = None
