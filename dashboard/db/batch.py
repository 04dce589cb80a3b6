"""Statements a service sends to the database together, and the rows each one returns.

A round trip to PostgreSQL costs far more than the small statements it carries: on loopback,
about 0.2 ms of CPU between the two processes before either does any work, against tens of
microseconds for an index probe or a one-row INSERT. So the hot write paths (an agent's
upsert: read the contact, its tags and suppression; then write the contact, its tags, the
audit trail and the history) collect what they know they need and send it at once.

On PostgreSQL that is one ``execute`` of the statements joined by ``;``: Django's psycopg
cursors bind parameters client-side, which sends them as one simple-protocol query, and each
statement keeps its own result (``nextset``). The server runs them in order and stops at the
first error, which ``run`` raises like any other. On SQLite, in-process, there is no round
trip to save: the statements run one after another. With psycopg's server-side binding
(``OPTIONS["server_side_binding"]``) a query holds one statement, so they run one by one too.

Planning is the other cost on PostgreSQL: a small query's plan can take ten times as long
as running it (0.5 ms against 0.05 ms for the contact's tags, lists and values). So on a
connection that keeps them (``dashboard.db.postgresql``), each statement is prepared once,
by name, in the same round trip as its first use, and later runs are ``EXECUTE name(…)``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection


@dataclass(frozen=True)
class Statement:
    """One SQL statement with ``%s`` placeholders (a literal ``%`` is written ``%%``).

    ``prepare``: PostgreSQL may keep its plan (see the module docstring); leave it on for
    statements of a fixed shape that run again and again, off for one-offs.
    """

    sql: str
    params: Sequence[Any] = ()
    prepare: bool = True


def sends_together() -> bool:
    """Whether ``run`` sends several statements in one round trip on this connection."""
    return connection.vendor == "postgresql" and not connection.settings_dict["OPTIONS"].get(
        "server_side_binding"
    )


def run(statements: Sequence[Statement]) -> list[list[tuple[Any, ...]]]:
    """Run ``statements`` in order in the current transaction (or autocommit); the rows each
    returned, ``[]`` for those that return none."""
    if not statements:
        return []
    with connection.cursor() as cursor:
        if not sends_together():
            results = []
            for statement in statements:
                cursor.execute(statement.sql, statement.params)
                results.append(cursor.fetchall() if cursor.description else [])
            return results
        plans = getattr(connection, "plans", None)
        texts, params, answers = _texts(statements, plans)
        try:
            cursor.execute(";\n".join(texts), params)
        except DatabaseError:
            if plans is not None:
                plans.forget()  # which PREPAREs ran before the error is unknown
            raise
        if plans is not None:
            plans.confirm()
        results = [cursor.fetchall() if cursor.description else []]
        while cursor.nextset():
            results.append(cursor.fetchall() if cursor.description else [])
    if len(results) != len(texts):  # a statement held a ';' of its own
        raise AssertionError(f"{len(texts)} statements gave {len(results)} results")
    return [results[i] for i in answers]


def _texts(
    statements: Sequence[Statement], plans: Plans | None
) -> tuple[list[str], list[Any], list[int]]:
    """The statements as sent (PREPARE/EXECUTE where plans are kept), their parameters, and
    which of the texts answer for each statement."""
    texts: list[str] = []
    params: list[Any] = []
    answers: list[int] = []
    for statement in statements:
        name = plans.name_for(statement) if plans is not None and statement.prepare else None
        if name is None:
            texts.append(statement.sql)
        else:
            if plans.stale and not plans.deallocating:
                # After whatever rolls back a failed transaction (a ROLLBACK TO first here).
                texts.append("DEALLOCATE ALL")
                plans.deallocating = True
            if plans.needs_prepare(name):
                texts.append(f"PREPARE {name} AS {_numbered(statement.sql)}")
            marks = ", ".join(["%s"] * len(statement.params))
            texts.append(f"EXECUTE {name}({marks})" if marks else f"EXECUTE {name}")
        answers.append(len(texts) - 1)
        params.extend(statement.params)
    return texts, params, answers


_PLACEHOLDER = re.compile(r"%%|%s")
_PREPARABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES")


def _numbered(sql: str) -> str:
    """``%s`` placeholders as PREPARE's ``$1, $2, …`` (``%%`` stays: the whole query still
    goes through psycopg's parameter binding, which turns it into ``%``)."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


class Plans:
    """The statements one PostgreSQL session has prepared (by a name from their text).

    A name is known once the query that prepared it succeeded (a PREPARE survives the
    transaction's rollback). After a failed query which ones ran is unknown, so the next
    query starts with ``DEALLOCATE ALL`` and prepares again what it uses.
    """

    LIMIT = 500  # distinct statements kept per session; past it, new ones are not prepared

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.pending: set[str] = set()
        self.stale = False
        self.deallocating = False  # this query starts over with DEALLOCATE ALL

    def name_for(self, statement: Statement) -> str | None:
        if not statement.sql.lstrip()[:7].upper().startswith(_PREPARABLE):
            return None  # SAVEPOINT and the like cannot be
        name = "sb_" + hashlib.blake2b(statement.sql.encode(), digest_size=10).hexdigest()
        if name in self.names or name in self.pending or len(self.names) < self.LIMIT:
            return name
        return None

    def needs_prepare(self, name: str) -> bool:
        if name in self.names and not self.deallocating:
            return False
        if name in self.pending:
            return False  # prepared earlier in this same query
        self.pending.add(name)
        return True

    def confirm(self) -> None:
        if self.deallocating:
            self.names.clear()
            self.stale = self.deallocating = False
        self.names |= self.pending
        self.pending.clear()

    def forget(self) -> None:
        self.pending.clear()
        self.stale, self.deallocating = True, False
