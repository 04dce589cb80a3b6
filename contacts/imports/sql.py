"""Raw bulk writes for imports: PostgreSQL COPY, SQLite executemany.

``bulk_create`` builds one model instance per row and ``bulk_update`` one CASE per column;
both are far slower than these at 10,000 rows a batch. Callers pass plain dicts keyed by
column name; columns they leave out get the model field's default, so a column added later
by a migration does not break imports. Call these inside the caller's transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import json
import operator
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db import connection, models
from django.db.models import NOT_PROVIDED

_temp_names = itertools.count()


def _default(field: models.Field) -> Any:
    if field.default is NOT_PROVIDED:
        return None
    return field.get_default()


def _columns(model: type[models.Model]) -> list[tuple[str, Any]]:
    return [(f.column, f) for f in model._meta.concrete_fields]


# One encoder for every value: json.dumps with any option builds a new encoder per call.
_encode_json = json.JSONEncoder(default=str).encode


def _json(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else _encode_json(value)


@functools.lru_cache(maxsize=256)
def _sqlite_datetime(value: dt.datetime) -> str:
    # A batch stamps every row with the same "now": convert it once.
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")


@functools.lru_cache(maxsize=65536)  # a contact id recurs in each of its rows' tables
def _sqlite_uuid(value: Any) -> Any:
    return value.hex if isinstance(value, uuid.UUID) else value


def _sqlite_datetime_or_none(value: Any) -> Any:
    return _sqlite_datetime(value) if isinstance(value, dt.datetime) else value


def _sqlite_str(value: Any) -> Any:
    return None if value is None else str(value)


def _converter(field: models.Field, sqlite: bool) -> Callable[[Any], Any] | None:
    """How a Python value of this column is sent: decided once per column, not per value."""
    kind = field.get_internal_type()
    if kind == "ForeignKey":
        kind = field.target_field.get_internal_type()
    if kind == "JSONField":
        return _json
    if not sqlite:
        return None  # psycopg's COPY adapts UUIDs, datetimes, decimals and dates itself
    if kind == "UUIDField":
        return _sqlite_uuid
    if kind == "DateTimeField":
        return _sqlite_datetime_or_none
    if kind in ("DateField", "DecimalField"):
        return _sqlite_str
    return None


def _tuples(model: type[models.Model], rows: Iterable[dict[str, Any]], names: list[str]):
    sqlite = connection.vendor == "sqlite"
    fields = dict(_columns(model))
    defaults = {name: _default(fields[name]) for name in names}
    pick = operator.itemgetter(*names)
    convert = [
        (index, converter)
        for index, name in enumerate(names)
        if (converter := _converter(fields[name], sqlite))
    ]
    for row in rows:
        values = pick({**defaults, **row}) if len(row) < len(names) else pick(row)
        if len(names) == 1:
            values = (values,)
        if convert:
            values = list(values)
            for index, converter in convert:
                if values[index] is not None:
                    values[index] = converter(values[index])
        yield tuple(values)


def _names(model: type[models.Model], skip_auto: bool = True) -> list[str]:
    return [
        column
        for column, field in _columns(model)
        if not (skip_auto and isinstance(field, models.AutoField))
    ]


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


class Template:
    """Rows of one table as lists in its column order, from a template holding every column's
    default (converted once): the hot path sets the few columns that differ per row instead
    of building, merging and converting a dict per row.

    Values set on a row must already be in the form the database takes: ``uuid_to_db``,
    ``converter`` and ``db_json`` give it; text and whole numbers pass as they are.
    """

    def __init__(self, model: type[models.Model], **constants: Any):
        self.model = model
        self.names = _names(model)
        self.slot = {name: index for index, name in enumerate(self.names)}
        values = {name: _default(field) for name, field in _columns(model) if name in self.slot}
        values.update(constants)
        self.template = list(_tuples(model, [values], self.names))[0]

    def new(self) -> list[Any]:
        return list(self.template)

    def converter(self, name: str) -> Callable[[Any], Any]:
        """How a value of this column is put in database form (identity when it needs none)."""
        field = dict(_columns(self.model))[name]
        convert = _converter(field, connection.vendor == "sqlite")
        if convert is None:
            return _same
        return lambda value: None if value is None else convert(value)


def _same(value: Any) -> Any:
    return value


def uuid_to_db() -> Callable[[uuid.UUID], Any]:
    """How this database takes a UUID (decided once: ``connection.vendor`` is a lookup
    through a thread-local proxy, too slow to repeat per value)."""
    return operator.attrgetter("hex") if connection.vendor == "sqlite" else _same


def db_json(value: Any) -> str:
    return _encode_json(value)


def insert(
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
    returning: str | None = None,
) -> list[Any]:
    """Insert ``rows``; with ``conflict`` columns, skip (or with ``update``, overwrite) clashes.

    ``returning`` (PostgreSQL only) gives that column of the rows actually inserted; it must
    be a key no existing row can hold (a fresh id), as it tells inserted rows from skipped.
    """
    if not rows:
        return []
    names = _names(model)
    return insert_values(
        model,
        names,
        _tuples(model, rows, names),
        conflict=conflict,
        update=update,
        returning=returning,
    )


def insert_values(
    model: type[models.Model],
    names: Sequence[str],
    values: Iterable[Sequence[Any]],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
    returning: str | None = None,
) -> list[Any]:
    """``insert`` for rows already in column order and database form (see ``Template``)."""
    values = values if isinstance(values, list) else list(values)
    if not values:
        return []
    table = _q(model._meta.db_table)
    cols = ", ".join(_q(n) for n in names)
    on_conflict = ""
    if conflict:
        target = ", ".join(_q(c) for c in conflict)
        if update:
            sets = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in update)
            on_conflict = f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        else:
            on_conflict = f" ON CONFLICT ({target}) DO NOTHING"
    if connection.vendor == "postgresql" and not on_conflict and not returning:
        with copying(model, names, values):
            pass  # the rows are formatted here while the server inserts those already sent
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            temp = _temp_copy(cursor, model, names, values)
            cursor.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {temp}{on_conflict}"  # noqa: S608
            )
            found: list[Any] = []
            if returning and cursor.rowcount == len(values):
                # Nothing clashed (the usual case): no need to send every key back.
                index = list(names).index(returning)
                found = [row[index] for row in values]
            elif returning:
                key = _q(returning)
                cursor.execute(
                    f"SELECT t.{key} FROM {temp} t JOIN {table} USING ({key})"  # noqa: S608
                )
                found = [r[0] for r in cursor.fetchall()]
            cursor.execute(f"DROP TABLE {temp}")
            return found
        marks = ", ".join(["%s"] * len(names))
        cursor.executemany(
            f"INSERT INTO {table} ({cols}) VALUES ({marks}){on_conflict}",  # noqa: S608
            values,
        )
    return []


@contextlib.contextmanager
def copying(
    model: type[models.Model], names: Sequence[str], values: Sequence[Sequence[Any]]
) -> Iterator[None]:
    """PostgreSQL: COPY rows (in column order and database form) into the table while the
    block runs: a background thread streams them and the server inserts them (its index
    maintenance is most of the time) while this process prepares what comes next; the block
    must not use the connection meanwhile (it is busy copying). Leaving the block waits for
    the server; a unique violation surfaces there as IntegrityError (psycopg's own cursor,
    as Django's has no copy, with its errors wrapped like Django's).
    """
    from psycopg.copy import QueuedLibpqWriter  # PostgreSQL only

    table = _q(model._meta.db_table)
    cols = ", ".join(_q(n) for n in names)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        # Hand data to the server in small chunks (the default buffers up to 1 MB, about a
        # whole batch, before sending anything).
        writer = QueuedLibpqWriter(raw, flush_threshold=64 * 1024)
        with raw.copy(f"COPY {table} ({cols}) FROM STDIN", writer=writer) as copy:  # noqa: S608
            for row in values:
                copy.write_row(row)
            yield


def _temp_copy(cursor, model, names: Sequence[str], values: Iterable[Sequence[Any]]) -> str:
    temp = f"_import_{model._meta.db_table}_{next(_temp_names)}"
    cols = ", ".join(_q(n) for n in names)
    cursor.execute(
        f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS "  # noqa: S608
        f"SELECT {cols} FROM {_q(model._meta.db_table)} WITH NO DATA"
    )
    with cursor.cursor.copy(f"COPY {temp} ({cols}) FROM STDIN") as copy:  # noqa: S608
        for row in values:
            copy.write_row(row)
    return temp


def update(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, key: str, columns: Sequence[str]
) -> None:
    """Set ``columns`` of the rows matched by ``key``: UPDATE … FROM a COPY'd temp table on
    PostgreSQL, one executemany of UPDATE … WHERE key = ? on SQLite."""
    if not rows:
        return
    table = _q(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names = [key, *columns]
            temp = _temp_copy(cursor, model, names, _tuples(model, rows, names))
            sets = ", ".join(f"{_q(c)} = t.{_q(c)}" for c in columns)
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM {temp} t WHERE {table}.{_q(key)} = t.{_q(key)}"  # noqa: S608
            )
            cursor.execute(f"DROP TABLE {temp}")
            return
        sets = ", ".join(f"{_q(c)} = %s" for c in columns)
        cursor.executemany(
            f"UPDATE {table} SET {sets} WHERE {_q(key)} = %s",  # noqa: S608
            list(_tuples(model, rows, [*columns, key])),
        )
