"""Many rows into one table, fast, in the caller's transaction: COPY on PostgreSQL and one
executemany on SQLite. ``bulk_create`` builds a model instance per row, which hot paths (a
campaign's frozen recipients, a sending worker's timeline) feel."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models


def insert_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    sqlite_row: Callable[[Sequence[Any]], Sequence[Any]] | None = None,
) -> None:
    """``rows`` hold Python values in ``columns`` order. ``sqlite_row`` turns one row into what
    SQLite is given (datetimes, UUIDs and decimals in the form Django stores them there)."""
    if not rows:
        return
    ops = connection.ops
    table = ops.quote_name(model._meta.db_table)
    cols = ", ".join(ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        values = rows if sqlite_row is None else [sqlite_row(row) for row in rows]
        marks = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", values)  # noqa: S608
