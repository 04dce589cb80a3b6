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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection


@dataclass(frozen=True)
class Statement:
    """One SQL statement with ``%s`` placeholders (a literal ``%`` is written ``%%``)."""

    sql: str
    params: Sequence[Any] = ()


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
        if len(statements) == 1 or not sends_together():
            results = []
            for statement in statements:
                cursor.execute(statement.sql, statement.params)
                results.append(cursor.fetchall() if cursor.description else [])
            return results
        params: list[Any] = []
        for statement in statements:
            params.extend(statement.params)
        cursor.execute(";\n".join(s.sql for s in statements), params)
        results = [cursor.fetchall() if cursor.description else []]
        while cursor.nextset():
            results.append(cursor.fetchall() if cursor.description else [])
    if len(results) != len(statements):  # a statement held a ';' of its own
        raise AssertionError(f"{len(statements)} statements gave {len(results)} results")
    return results
