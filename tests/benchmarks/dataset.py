"""A large synthetic contact base for the benchmarks, loaded once and reused.

``ensure_contacts(n)`` makes the benchmark database hold exactly ``n`` contacts built from
``contacts.demo.people()`` (valid phones, unique emails, accented names), with:

- tags: the eight ``demo.TAGS`` (0-3 per contact, ~1.2 on average, so each tag has ~15%),
- lists: "Newsletter subscribers" and "Spring Sale 2026" (~30% each), "Event invitees"
  (500 members) and "Key accounts" (200 members),
- custom field values for every contact: ``lead_score`` (number, 0-100) and ``company``
  (text, one of ``demo.COMPANIES``),
- consents spread like the demo data, ~2% unsubscribed, ``created_at`` over three years in
  insertion order (as rows arrive in a real table), ``updated_at`` later for ~30% of them.

A marker table (``bench_dataset``) remembers n, seed and ``VERSION``; when they match and the
contact count is still n, nothing is loaded. Benchmarks that write contacts must remove what
they add (or the next run reloads everything). Bump ``VERSION`` when the generated data changes.

Rows go in with raw SQL: PostgreSQL ``COPY`` (psycopg 3), SQLite ``executemany`` in large
transactions, with secondary indexes dropped during the load and rebuilt afterwards, then
``ANALYZE`` so the planners see the real distribution. ``bulk_insert`` and
``without_secondary_indexes`` are reusable for other raw-insert measurements.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice

import phonenumbers
from django.db import connection, models, transaction

from contacts import demo
from contacts.models import Contact, ContactList, ContactTag, Field, FieldValue, ListMembership, Tag
from contacts.phones import type_label
from contacts.services.normalise import search_key

VERSION = 2
MARKER = "bench_dataset"
CHUNK = 50_000
LOADED_TABLES = (Contact, ContactTag, FieldValue, ListMembership)
# Fixed so that two loads with the same seed produce the same rows (created_at included).
EPOCH = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Dataset:
    n: int
    seed: int
    tag_ids: dict[str, int]  # demo tag name -> Tag id
    list_ids: dict[str, int]  # demo list name -> ContactList id
    field_ids: dict[str, int]  # "lead_score", "company" -> Field id
    load_seconds: float | None  # None when the existing data was reused


def ensure_contacts(n: int, *, seed: int = 7, log=print) -> Dataset:
    """Make the database hold exactly ``n`` synthetic contacts; reuse them when already there."""
    _create_marker()
    tag_ids, lists, fields = _ensure_vocabulary()
    ids = {
        "tag_ids": tag_ids,
        "list_ids": {cl.name: cl.pk for cl in lists},
        "field_ids": {f.name: f.pk for f in fields},
    }
    if _marker() == (n, seed, VERSION) and Contact.objects.count() == n:
        _tidy(log=log)
        return Dataset(n=n, seed=seed, load_seconds=None, **ids)

    log(f"dataset: loading {n:,} contacts into {connection.vendor} (seed {seed})…")
    start = time.perf_counter()
    _set_marker(None)
    with _bulk_session(), without_secondary_indexes(LOADED_TABLES, log=log):
        _wipe_contacts()
        _load(n, seed, tag_ids=tag_ids, lists=lists, fields=fields, log=log)
    _analyze()
    _set_marker((n, seed, VERSION))
    seconds = time.perf_counter() - start
    log(f"dataset: {n:,} contacts ready in {seconds:.1f}s")
    return Dataset(n=n, seed=seed, load_seconds=seconds, **ids)


# --- Generating rows ---------------------------------------------------------------------------


def _ensure_vocabulary() -> tuple[dict[str, int], list[ContactList], list[Field]]:
    """(demo tag name -> Tag id, the demo lists, the two custom fields)."""
    # Tag names are unique whatever their case, and another benchmark may have made one first
    # in other letters (the import's "vip"): find it as the application does.
    tag_ids = {
        name: Tag.objects.get_or_create(name__iexact=name, defaults={"name": name})[0].pk
        for name in demo.TAGS
    }
    lists = [
        ContactList.objects.get_or_create(name=name, defaults={"limit": limit})[0]
        for name, limit in demo.LISTS
    ]
    fields = [
        Field.objects.get_or_create(name=name, defaults={"type": kind})[0]
        for name, kind in demo.FIELDS
        if name in ("lead_score", "company")
    ]
    return tag_ids, lists, fields


def _load(n, seed, *, tag_ids, lists, fields, log) -> None:
    rng = random.Random(seed)
    field_ids = {f.name: f.pk for f in fields}
    # Lists with a limit get their members from the first contacts drawn, like the demo data.
    room = {cl.pk: cl.limit for cl in lists}
    keys: dict[str, str] = {}  # ~200 distinct names: normalise each once

    def key(name: str) -> str:
        if name not in keys:
            keys[name] = search_key(name)
        return keys[name]

    types: dict[str, str] = {}  # number type by number less its last 4 digits (as screening reads)

    def phone_type(e164: str) -> str:
        if e164[:-4] not in types:
            types[e164[:-4]] = type_label(phonenumbers.parse(e164))
        return types[e164[:-4]]

    contact_cols = ["id", "email", "phone", "phone_country", "phone_type", "first_name", "last_name",
                    "first_name_key", "last_name_key", "email_consent", "sms_consent",
                    "unsubscribed_at", "metadata", "source", "created_at", "updated_at",
                    "version"]  # fmt: skip
    extra = _defaults_for_other_columns(Contact, contact_cols)
    contact_cols += list(extra)
    extra_values = tuple(extra.values())
    now = EPOCH
    span = (now - dt.datetime(2023, 11, 1, tzinfo=dt.UTC)).total_seconds()
    people = demo.people(n, seed=seed, now=now)
    loaded = 0
    while chunk := list(islice(people, CHUNK)):
        contacts, tag_rows, values, members = [], [], [], []
        for person in chunk:
            pk = uuid.UUID(int=rng.getrandbits(128), version=4)
            # Rows arrive in the order they were created, as in a real table; most are never
            # edited again, some were updated since.
            created = now - dt.timedelta(seconds=span * (1 - (loaded + rng.random()) / n))
            updated = created
            if rng.random() < 0.3:
                updated += dt.timedelta(seconds=rng.random() * (now - created).total_seconds())
            loaded += 1
            unsubscribed = updated if rng.random() < 0.02 else None
            contacts.append((
                pk, person.email, person.phone, person.phone_region, phone_type(person.phone),
                person.first_name, person.last_name, key(person.first_name), key(person.last_name),
                rng.choice(("granted", "granted", "unknown")),
                rng.choice(("granted", "granted", "granted", "unknown", "withdrawn")),
                unsubscribed, json.dumps({"plan": rng.choice(("free", "pro", "team"))}),
                "system", created, updated, 1, *extra_values,
            ))  # fmt: skip
            added = created + dt.timedelta(seconds=rng.random() * span / 100)
            tag_rows += [(pk, tag_ids[name], added) for name in person.tags]
            values.append((pk, field_ids["lead_score"], None, person.lead_score, None, None))
            values.append((pk, field_ids["company"], person.company, None, None, None))
            for list_id, limit in room.items():
                if limit is None:
                    joined = rng.random() < 0.3
                else:
                    joined = limit > 0 and rng.random() < 0.05
                    room[list_id] = limit - joined
                if joined:
                    members.append((pk, list_id, added))
        with transaction.atomic():  # one commit per chunk, not per row
            bulk_insert(Contact, contact_cols, contacts)
            bulk_insert(ContactTag, ["contact_id", "tag_id", "added_at"], tag_rows)
            bulk_insert(
                FieldValue,
                [
                    "contact_id",
                    "field_id",
                    "value_text",
                    "value_number",
                    "value_date",
                    "value_bool",
                ],
                values,
            )
            bulk_insert(ListMembership, ["contact_id", "list_id", "added_at"], members)
        if loaded % (CHUNK * 4) == 0 or loaded == n:
            log(f"dataset:   {loaded:,} contacts")


def _defaults_for_other_columns(model, known: Sequence[str]) -> dict[str, object]:
    """Columns other helpers add later get their field default, so the raw load keeps working."""
    extra = {}
    for f in model._meta.concrete_fields:
        if f.column in known:
            continue
        value = f.get_default()
        extra[f.column] = f.get_db_prep_save(value, connection) if value is not None else None
    return extra


# --- Raw inserts -------------------------------------------------------------------------------


def bulk_insert(model: type[models.Model], columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert plain tuples fast: COPY on PostgreSQL, one executemany transaction on SQLite.

    Values are Python objects (uuid.UUID, aware datetimes, JSON as a str); SQLite gets them in
    the form Django stores them (UUID hex, naive UTC datetimes).
    """
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # noqa: S608
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(columns))
        cursor.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608
            [tuple(map(_sqlite_value, row)) for row in rows],
        )


def _sqlite_value(value):
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
    return value


@contextmanager
def without_secondary_indexes(
    models_: Iterable[type[models.Model]], *, log=print
) -> Iterator[None]:
    """Drop the tables' secondary indexes (and unique constraints on PostgreSQL), rebuild after.

    Building an index once over sorted data is much faster than maintaining it row by row.
    Primary keys stay. SQLite keeps the indexes of column-level UNIQUE (they cannot be dropped).
    """
    tables = [m._meta.db_table for m in models_]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
                " FROM pg_constraint c WHERE c.contype = 'u' AND c.conrelid::regclass::text = ANY(%s)",
                [tables],
            )
            constraints = cursor.fetchall()
            cursor.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s)"
                " AND i.indexname NOT IN (SELECT conname FROM pg_constraint)",
                [tables],
            )
            indexes = cursor.fetchall()
            for table, name, _ in constraints:
                cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            rebuild = [sql for _, sql in indexes] + [
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
                for table, name, definition in constraints
            ]
        else:
            marks = ", ".join(["%s"] * len(tables))
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"  # noqa: S608
                f" AND tbl_name IN ({marks})",
                tables,
            )
            indexes = cursor.fetchall()
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            rebuild = [sql for _, sql in indexes]
    try:
        yield
    finally:
        start = time.perf_counter()
        with connection.cursor() as cursor:
            for sql in rebuild:
                cursor.execute(sql)
        log(f"dataset:   rebuilt {len(rebuild)} indexes in {time.perf_counter() - start:.1f}s")


@contextmanager
def _bulk_session() -> Iterator[None]:
    """Session settings for a bulk load: no FK triggers/checks, no fsync per commit, more sort
    memory for index builds. Rows are consistent by construction."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("SET maintenance_work_mem = '256MB'")
            cursor.execute("SET synchronous_commit = off")
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            cursor.execute("PRAGMA synchronous = OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("RESET session_replication_role")
                cursor.execute("RESET maintenance_work_mem")
                cursor.execute("RESET synchronous_commit")
            else:
                cursor.execute("PRAGMA foreign_keys = ON")
                cursor.execute("PRAGMA synchronous = NORMAL")


def _wipe_contacts() -> None:
    """Remove every contact and whatever hangs off them (other apps' rows included)."""
    table = Contact._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f'TRUNCATE "{table}" CASCADE')
            return
        for child in _sqlite_dependents(cursor, table):
            cursor.execute(f'DELETE FROM "{child}"')  # noqa: S608
        cursor.execute(f'DELETE FROM "{table}"')  # noqa: S608


def _sqlite_dependents(cursor, parent: str) -> list[str]:
    """Tables referencing ``parent`` directly or indirectly, deepest first."""
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    tables = [name for (name,) in cursor.fetchall()]
    found: list[str] = []

    def visit(target: str) -> None:
        for table in tables:
            if table in found or table == target:
                continue
            cursor.execute(f'PRAGMA foreign_key_list("{table}")')
            if any(row[2] == target for row in cursor.fetchall()):
                visit(table)
                found.append(table)

    visit(parent)
    return found


def _analyze() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for model in (*LOADED_TABLES, Tag, ContactList, Field):
                cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _tidy(*, log=print) -> None:
    """VACUUM the loaded tables on PostgreSQL when other benchmarks left many dead rows.

    Benchmarks that write (imports, the API) delete what they added, but dead rows and pages no
    longer all-visible stay until autovacuum passes, which in a real database it does within a
    minute or so of a mass delete; the next benchmark should not measure that gap.
    """
    if connection.vendor != "postgresql":
        return
    tables = [m._meta.db_table for m in LOADED_TABLES]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s)"
            " AND n_dead_tup + n_mod_since_analyze > 0.02 * GREATEST(n_live_tup, 1)",
            [tables],
        )
        for (table,) in cursor.fetchall():
            log(f"dataset: VACUUM ANALYZE {table} (dead rows left by another benchmark)")
            cursor.execute(f'VACUUM ANALYZE "{table}"')


# --- Marker ------------------------------------------------------------------------------------


def _create_marker() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER}"
            " (id integer PRIMARY KEY, n integer, seed integer, version integer)"
        )


def _marker() -> tuple[int, int, int] | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT n, seed, version FROM {MARKER} WHERE id = 1")  # noqa: S608
        row = cursor.fetchone()
    return tuple(row) if row else None


def _set_marker(value: tuple[int, int, int] | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {MARKER}")  # noqa: S608
        if value:
            cursor.execute(
                f"INSERT INTO {MARKER} (id, n, seed, version) VALUES (1, %s, %s, %s)",  # noqa: S608
                list(value),
            )
