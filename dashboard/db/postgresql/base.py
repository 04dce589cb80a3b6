"""Django's PostgreSQL backend, with transaction control riding along with the next statement.

Every round trip to the server costs about 0.2 ms of CPU between the two processes here
before either does any work (the statements themselves: tens of microseconds), and Django
spends several on bookkeeping: ``BEGIN`` on its own before a transaction's first statement,
``SAVEPOINT`` and ``RELEASE SAVEPOINT`` around every nested ``atomic`` block, and a
``SELECT 1`` health check at the start of each request. An agent's upsert paid seven of
those on top of its own statements.

So this backend defers them, as the PostgreSQL JDBC driver does with ``BEGIN``:

- ``BEGIN``, ``SAVEPOINT`` and ``RELEASE``/``ROLLBACK TO SAVEPOINT`` are queued on the
  connection and sent in the same query as the next statement (one simple-protocol query of
  several statements; Django's psycopg cursors bind parameters client-side). A savepoint
  released or rolled back before any statement ran is never sent at all, nor is the
  ``BEGIN`` of a transaction that ran nothing. ``COMMIT`` sends what is still queued before
  it (a ``ROLLBACK TO`` must reach the server first; a ``RELEASE`` is redundant there).
- psycopg itself stays in autocommit mode so it never sends a ``BEGIN`` of its own; the
  transaction is whatever the queued ``BEGIN`` opened, and Django's transaction management
  (``atomic``, ``on_commit``, ``needs_rollback``) works unchanged on top.
- The health check looks at the socket instead of asking the server (see ``is_usable``).
- ``plans`` remembers which statements ``dashboard.db.batch`` prepared in this session
  (``OPTIONS["prepare_statements"]``, on by default; turn it off behind a pooler in
  transaction mode, which does not keep a session's prepared statements).

Statements that cannot carry a prefix (COPY, server-side cursors, ``executemany``) send the
queue on its own first.
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql import base
from django.db.backends.utils import debug_transaction

from dashboard.db.batch import Plans


class Deferred:
    """The transaction-control statements waiting to be sent, in order."""

    def __init__(self) -> None:
        self.queue: list[str] = []
        # Savepoints rolled back before they were sent: Django releases them next.
        self.dropped: set[str] = set()

    def take(self) -> list[str]:
        queued, self.queue = self.queue, []
        return queued


class DeferringCursor(base.Cursor):
    """psycopg's client-side-binding cursor (Django's default), sending the connection's
    queued transaction control in front of each statement."""

    deferred: Deferred | None = None

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if not (self.deferred and self.deferred.queue):
            return super().execute(query, params, **kwargs)
        if not isinstance(query, str):  # psycopg.sql objects, bytes: keep them whole
            self.flush()
            return super().execute(query, params, **kwargs)
        # Bind the parameters first: a value psycopg refuses (a NUL in a string) fails here,
        # before anything is sent, and the queue must then still be waiting.
        statement = self.mogrify(query, params) if params is not None else query
        queued = self.deferred.take()
        super().execute("; ".join([*queued, statement]), **kwargs)
        for _ in queued:  # the caller reads its own statement's result
            self.nextset()
        return self

    def flush(self) -> None:
        """Send what is queued now, for operations that take no prefix."""
        if self.deferred and (queued := self.deferred.take()):
            super().execute("; ".join(queued))

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        self.flush()
        return super().executemany(*args, **kwargs)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        self.flush()
        return super().copy(*args, **kwargs)

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        self.flush()
        return super().stream(*args, **kwargs)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferred = Deferred()
        options = self.settings_dict["OPTIONS"]
        # Server-side binding sends one statement per query, and a pool hands connections
        # over in psycopg's own transaction state: both keep Django's usual behaviour.
        self.defers = options.get("server_side_binding") is not True and not options.get("pool")
        # Statements run through dashboard.db.batch are prepared once per session (off behind
        # a pooler that hands sessions around per transaction, such as PgBouncer's).
        self.keeps_plans = self.defers and options.get("prepare_statements", True)
        self.plans: Plans | None = Plans() if self.keeps_plans else None

    # --- connections and cursors ---------------------------------------------------------

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params.pop("prepare_statements", None)  # ours, not libpq's
        if self.defers:
            params["cursor_factory"] = DeferringCursor
            params["autocommit"] = True  # for good: see the module docstring
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        self.deferred = Deferred()
        self.plans = Plans() if self.keeps_plans else None
        return super().get_new_connection(conn_params)

    def create_cursor(self, name: str | None = None) -> Any:
        if not self.defers:
            return super().create_cursor(name)
        if name:
            # A server-side cursor's DECLARE goes out on its own: send the queue first, and
            # hold the cursor past the end of a transaction only outside one (Django asks
            # psycopg's autocommit, which is always on here).
            self._send_queued()
            cursor = base.ServerSideCursor(
                self.connection, name=name, scrollable=False, withhold=self.get_autocommit()
            )
            loader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, base.Format.TEXT)
            if self.timezone != loader.timezone:
                base.register_tzloader(self.timezone, cursor)
            return cursor
        cursor = super().create_cursor(name)
        cursor.deferred = self.deferred
        return cursor

    def _send_queued(self, *then: str) -> None:
        statements = [*self.deferred.take(), *then]
        if statements:
            with self.connection.cursor() as cursor:
                cursor.execute("; ".join(statements))

    # --- transactions ----------------------------------------------------------------------

    def _set_autocommit(self, autocommit: bool) -> None:
        if not self.defers:
            return super()._set_autocommit(autocommit)
        # psycopg stays in autocommit mode; a transaction is the BEGIN queued here.
        self.deferred.queue = [] if autocommit else [self._begin_statement()]
        self.deferred.dropped.clear()

    def _begin_statement(self) -> str:
        level = self.settings_dict["OPTIONS"].get("isolation_level")
        if level is None:
            return "BEGIN"
        return f"BEGIN ISOLATION LEVEL {base.IsolationLevel(level).name.replace('_', ' ')}"

    def _started(self) -> bool:
        """Whether the server has been sent this transaction's BEGIN."""
        return not (self.deferred.queue and self.deferred.queue[0].startswith("BEGIN"))

    def _commit(self) -> None:
        if not self.defers:
            return super()._commit()
        if self.connection is None:
            return
        if not self._started():
            self.deferred.take()  # a transaction that ran nothing: nothing to send
            return
        # ROLLBACK TO must reach the server before COMMIT (committing a transaction left in
        # error would roll it back instead); RELEASE is redundant there.
        queued = [s for s in self.deferred.take() if not s.startswith("RELEASE SAVEPOINT ")]
        with debug_transaction(self, "COMMIT"), self.wrap_database_errors:
            self.deferred.queue = queued
            self._send_queued("COMMIT")

    def _rollback(self) -> None:
        if not self.defers:
            return super()._rollback()
        if self.connection is None:
            return
        started = self._started()
        self.deferred.take()
        if not started:
            return
        with (
            debug_transaction(self, "ROLLBACK"),
            self.wrap_database_errors,
            self.connection.cursor() as cursor,
        ):
            cursor.execute("ROLLBACK")

    def _savepoint(self, sid: str) -> None:
        if not self.defers:
            return super()._savepoint(sid)
        self.deferred.queue.append(self.ops.savepoint_create_sql(sid))

    def _savepoint_commit(self, sid: str) -> None:
        if not self.defers:
            return super()._savepoint_commit(sid)
        create = self.ops.savepoint_create_sql(sid)
        if sid in self.deferred.dropped:
            self.deferred.dropped.discard(sid)
        elif self.deferred.queue and self.deferred.queue[-1] == create:
            self.deferred.queue.pop()  # nothing ran inside it: it never existed
        else:
            self.deferred.queue.append(self.ops.savepoint_commit_sql(sid))

    def _savepoint_rollback(self, sid: str) -> None:
        if not self.defers:
            return super()._savepoint_rollback(sid)
        create = self.ops.savepoint_create_sql(sid)
        if create in self.deferred.queue:
            # Not sent yet, so nothing since it was either: forget it and what followed.
            del self.deferred.queue[self.deferred.queue.index(create) :]
            self.deferred.dropped.add(sid)
        elif sid not in self.deferred.dropped:
            self.deferred.queue.append(self.ops.savepoint_rollback_sql(sid))

    def _close(self) -> None:
        self.deferred.take()
        super()._close()

    # --- health ------------------------------------------------------------------------------

    def is_usable(self) -> bool:
        """Whether the connection can still be used, without a round trip to ask.

        Between requests the server has nothing to say. A session the server ended (a
        restart, ``pg_terminate_backend``, an idle timeout) has closed the socket or sent
        its last message, so the socket reads as ready: then the connection is replaced.
        (A peer gone without a word, a broken network, is found by the next query, as with
        Django's own ``SELECT 1``, which would wait for the same timeout.)
        """
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
