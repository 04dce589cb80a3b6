"""Model rows written and read as plain SQL, for the few paths that run on every agent write.

Building a query is most of what a one-row ORM call costs (about 0.4 ms of Python here, ten
times the statement itself): an agent's upsert made a dozen of them. ``Table`` keeps, per
model, its table and column names and each column's conversions, worked out once per
process with Django's own field machinery (``get_db_prep_save`` going in, the backend's and
the field's converters coming out), so values are stored and loaded exactly as the ORM
stores and loads them. The statements it makes run through ``dashboard.db.batch``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from django.db import connection, connections, models
from django.db.models import NOT_PROVIDED

from dashboard.db.batch import Statement

M = TypeVar("M", bound=models.Model)
Converter = Callable[[Any], Any]

# Columns whose Python value is what both databases take as it is: no conversion needed.
_PLAIN = frozenset(
    ["AutoField", "BigAutoField", "BigIntegerField", "BooleanField", "CharField",
     "IntegerField", "PositiveIntegerField", "PositiveSmallIntegerField", "SmallIntegerField",
     "TextField"]
)  # fmt: skip


class Table(Generic[M]):
    """One model's table on the current database."""

    def __init__(self, model: type[M]):
        self.model = model
        self.name = connection.ops.quote_name(model._meta.db_table)
        self.fields = {f.attname: f for f in model._meta.concrete_fields}
        self.quoted = {name: connection.ops.quote_name(f.column) for name, f in self.fields.items()}
        self.pk = model._meta.pk.attname
        self.plain = {
            name
            for name, f in self.fields.items()
            if (f.target_field if f.is_relation else f).get_internal_type() in _PLAIN
        }
        self.has_default = {n for n, f in self.fields.items() if f.default is not NOT_PROVIDED}
        self.defaults = {name: f.get_default for name, f in self.fields.items()}

    def q(self, attname: str) -> str:
        return self.quoted[attname]

    def prep(self, attname: str, value: Any) -> Any:
        """``value`` as this column stores it (UUID hex and ISO datetimes on SQLite, …)."""
        if value is None or attname in self.plain:
            return value
        return self.fields[attname].get_db_prep_save(value, connections[connection.alias])

    # --- writing -------------------------------------------------------------------------------

    def insert(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        on_conflict: Sequence[str] = (),
        update: Sequence[str] = (),
        returning: Sequence[str] = (),
    ) -> Statement:
        """One INSERT of ``rows`` (dicts by attname; a column no row gives takes its
        default, an auto id its sequence; a row without a column another gives, the field's
        default). ``on_conflict``: rows that clash on these
        columns' unique index are skipped, or with ``update`` overwrite those columns."""
        given = set(rows[0]).union(*rows[1:]) if len(rows) > 1 else rows[0]
        names = tuple(name for name in self.fields if name in given or name in self.has_default)
        conn = connections[connection.alias]
        fields, plain, defaults = self.fields, self.plain, self.defaults
        params: list[Any] = []
        for row in rows:
            for name in names:
                value = row[name] if name in row else defaults[name]()
                if value is not None and name not in plain:
                    value = fields[name].get_db_prep_save(value, conn)
                params.append(value)
        sql = self._insert_sql(names, len(rows))
        if on_conflict:
            sql += f" ON CONFLICT ({', '.join(self.q(n) for n in on_conflict)})"
            if update:
                sets = ", ".join(f"{self.q(n)} = excluded.{self.q(n)}" for n in update)
                sql += f" DO UPDATE SET {sets}"
            else:
                sql += " DO NOTHING"
        if returning:
            sql += f" RETURNING {', '.join(self.q(n) for n in returning)}"
        return Statement(sql, params)

    @functools.lru_cache(maxsize=64)  # noqa: B019 (a Table lives as long as the process)
    def _insert_sql(self, names: tuple[str, ...], count: int) -> str:
        marks = "(" + ", ".join(["%s"] * len(names)) + ")"
        columns = ", ".join(self.q(n) for n in names)
        return f"INSERT INTO {self.name} ({columns}) VALUES {', '.join([marks] * count)}"  # noqa: S608

    def update(self, pk: Any, values: Mapping[str, Any]) -> Statement:
        sets = ", ".join(f"{self.q(name)} = %s" for name in values)
        params = [self.prep(name, value) for name, value in values.items()]
        return Statement(
            f"UPDATE {self.name} SET {sets} WHERE {self.q(self.pk)} = %s",  # noqa: S608
            [*params, self.prep(self.pk, pk)],
        )

    # --- reading -------------------------------------------------------------------------------

    def select(
        self, attnames: Sequence[str], where: str, params: Sequence[Any] = (), *, lock: bool = False
    ) -> Statement:
        """``SELECT`` these columns ``WHERE`` … (written with ``q()`` names); ``lock``: FOR
        UPDATE where the database has it (SQLite's transactions hold the whole database)."""
        sql = f"SELECT {', '.join(self.q(n) for n in attnames)} FROM {self.name} WHERE {where}"  # noqa: S608
        if lock and connection.features.has_select_for_update:
            sql += " FOR UPDATE"
        return Statement(sql, list(params))

    def load(self, attnames: Sequence[str], row: Sequence[Any]) -> M:
        """A model instance from a row of ``select(attnames, …)``, as the ORM would make it."""
        return self.model.from_db(connection.alias, list(attnames), self.values(attnames, row))

    def values(self, attnames: Sequence[str], row: Sequence[Any]) -> list[Any]:
        """The row's values converted to Python as the ORM converts them."""
        values = list(row)
        for index, convert in _converters(self.model, tuple(attnames), connection.vendor):
            if values[index] is not None:
                values[index] = convert(values[index])
        return values


@functools.cache
def table(model: type[M], vendor: str) -> Table[M]:
    return Table(model)


def table_of(model: type[M]) -> Table[M]:
    """The ``Table`` of ``model`` on the current database (built once per process)."""
    return table(model, connection.vendor)


@functools.cache
def _converters(
    model: type[models.Model], attnames: tuple[str, ...], vendor: str
) -> list[tuple[int, Converter]]:
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    found = []
    for index, attname in enumerate(attnames):
        col = by_attname[attname].get_col(model._meta.db_table)
        steps = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if steps:
            found.append((index, _chain(steps, col)))
    return found


def _chain(steps: Iterable[Callable[..., Any]], col: Any) -> Converter:
    steps = list(steps)

    def convert(value: Any) -> Any:
        db = connections[connection.alias]
        for step in steps:
            value = step(value, col, db)
        return value

    return convert
