"""The batch engine behind ``contacts.services.imports.run_import``.

A ``Runner`` works through one claimed job: it reads the stored file in batches from the job's
byte offset, cleans the rows (in worker processes for large files, a few batches ahead), and
writes each batch in one transaction that first moves the offset forward conditionally (this
job, this worker, the offset it expected). So two workers never both write a batch, and a
killed worker's uncommitted batch is simply done again by the next one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import multiprocessing
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from contacts.imports import sql
from contacts.imports.csvreader import blank_lines, read_batch
from contacts.imports.mapping import with_current_field_names
from contacts.imports.models import (
    ImportIssue,
    ImportJob,
    ImportMode,
    ImportStatus,
)
from contacts.imports.rows import CleanRow, Issue, RowCleaner, name_keys
from contacts.models import (
    Consent,
    Contact,
    ContactList,
    ContactTag,
    Field,
    FieldValue,
    Interaction,
    InteractionKind,
    ListMembership,
    Suppression,
    SuppressionKind,
    Tag,
)
from contacts.services import tags as tag_service
from contacts.services.suppression import suppressed_hashes
from dashboard import audit
from dashboard.actors import Actor, ActorKind
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from dashboard.uuids import uuid7_many

LEASE = dt.timedelta(minutes=5)
# Files from this size on are cleaned (parsing, phone validation) in IMPORT_WORKERS processes
# while this one writes; below it the process start-up costs more than it saves.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
READ_AHEAD = 3  # batches cleaned ahead of the one being written: bounds memory
IN_CHUNK = 500  # SQLite allows 999 query parameters by default
CONTACT_COLUMNS = ("phone", "phone_country", "first_name", "last_name", "metadata")
_VALUE_COLUMNS = ["value_text", "value_number", "value_date", "value_bool"]
NOTHING_TO_IMPORT = "This file has a header row but no data rows, so nothing was imported."


def chunks(items: list, size: int = IN_CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def job_actor(job: ImportJob) -> Actor:
    return Actor.import_job(job.pk, label=f"import #{job.pk} ({job.file_name})"[:150])


class LostLease(Exception):
    """Another worker took the job over; this one stops without writing."""


@dataclass
class _Batch:
    issues: list[Issue] = field(default_factory=list)
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    invalid: int = 0

    def skip(self, row: CleanRow, code: str, reason: str, column: str = "") -> None:
        # Rows merged into this one were not written either.
        self.skipped += 1 + row.merged
        self.issues.append(Issue(row.row, column, code, reason, "skipped"))

    def mark(self) -> tuple[int, ...]:
        return self.imported, self.updated, self.skipped, self.invalid, len(self.issues)

    def reset(self, mark: tuple[int, ...]) -> None:
        """Forget what was counted since ``mark`` (a write that is done again differently)."""
        self.imported, self.updated, self.skipped, self.invalid, issues = mark
        del self.issues[issues:]


@dataclass
class RawBatch:
    numbers: list[int]  # each record's row number in a spreadsheet (the header is row 1)
    records: list[list[str]]
    offset: int  # byte offsets of the batch in the stored file
    end: int


@dataclass
class CleanBatch:
    results: list[tuple[CleanRow | None, list[Issue]]]
    offset: int
    end: int


def clean_batch(cleaner: RowCleaner, raw: RawBatch) -> CleanBatch:
    clean = cleaner.clean
    results = [
        clean(number, values) for number, values in zip(raw.numbers, raw.records, strict=True)
    ]
    return CleanBatch(results, raw.offset, raw.end)


_worker_cleaner: RowCleaner | None = None


def _init_cleaner(cleaner: RowCleaner) -> None:
    global _worker_cleaner
    _worker_cleaner = cleaner
    # The pool's processes only clean batches: collect by hand, once a batch (see batch_gc).
    gc.freeze()
    gc.disable()


def _clean_in_worker(raw: RawBatch) -> CleanBatch:
    assert _worker_cleaner is not None
    collect_batch_garbage()
    return clean_batch(_worker_cleaner, raw)


@contextlib.contextmanager
def batch_gc() -> Iterator[None]:
    """Run the cyclic garbage collector once a batch instead of every few hundred allocations.

    A batch makes tens of thousands of objects that all stay alive until it is written (rows,
    their values, the unpickled results of the cleaning processes); the automatic collector
    scanned them again and again, most of all the older generations holding Django, the
    caches and the batches read ahead: that was three quarters of the cost of unpickling a
    cleaned batch (~23 of ~30 us a row) and a fifth of cleaning one. See
    ``collect_batch_garbage`` for what runs instead. Restored on the way out (objects
    frozen meanwhile go back to the collector's oldest generation).
    """
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def collect_batch_garbage() -> None:
    """Collect what the last batch left (with ``batch_gc``, once a batch): only objects made
    since the previous call are scanned, and the survivors (caches, batches read ahead) are
    frozen so the next call skips them. Frozen objects are still freed when nothing refers
    to them; only a garbage cycle among them waits for the end of the run."""
    gc.collect()
    gc.freeze()


class Runner:
    def __init__(self, job: ImportJob, worker: str):
        self.job = job
        self.worker = worker
        self.actor = job_actor(job)
        self.path = Path(job.file_path)

    def _load(self) -> None:
        """What the job's batches need; raises when its mapping no longer fits (then ``finish``
        still works)."""
        job = self.job
        self.fields = list(Field.objects.all())
        self.field_names = {f.pk: f.name for f in self.fields}
        self.value_columns = {f.pk: f.value_column for f in self.fields}
        self.empty_values = dict.fromkeys(_VALUE_COLUMNS)
        self.cleaner = RowCleaner(
            headers=job.headers,
            mapping=with_current_field_names(job.mapping, drop_gone=False),
            fields=self.fields,
            default_region=job.default_region,
            delimiter=job.delimiter,
        )
        self.mapped_field_ids = [self.cleaner.fields[t].pk for t in self.cleaner.fields]
        self.lists = list(ContactList.objects.filter(pk__in=job.list_ids))
        # Lists deleted since the import was set up (list id -> what each row says about it):
        # the contacts are imported, and each row says it was not added to them.
        self.gone_lists = {
            list_id: f"The list #{list_id} chosen for this import was deleted before it ran; "
            "the contact was imported but not added to it."
            for list_id in sorted(set(job.list_ids) - {cl.pk for cl in self.lists})
        }
        self.tag_ids: dict[str, int] = {}
        # The tags' names as spelled in the database, for the audit entries revert replays.
        self.tag_names: dict[int, str] = {}
        # A dry run writes nothing, so in-file duplicates across batches are remembered here.
        self.dry_seen: set[str] = set()
        self.dry_room: dict[int, int | None] | None = None
        self.batch_size = settings.IMPORT_BATCH_SIZE
        self.clock = time.perf_counter()
        self.interaction_data = json.dumps({"import_job": job.pk})  # the same for every row

    def run(self) -> None:
        """Read batches, clean them (in worker processes for large files), write them in order.

        Cleaning runs at most ``READ_AHEAD`` batches ahead of the writes, so memory stays flat;
        progress only ever moves with a committed batch.
        """
        self._load()
        with batch_gc():
            self._run()

    def _run(self) -> None:
        state = ImportJob.objects.values("offset", "rows_done").get(pk=self.job.pk)
        if self.job.dry_run and state["offset"] != self.job.data_offset:
            state = self._restart_dry_run()
        batches = self._raw_batches(state["offset"], state["rows_done"])
        workers = settings.IMPORT_WORKERS if self.job.file_size >= PARALLEL_MIN_BYTES else 0
        if workers < 2:
            for raw in batches:
                if not self._commit(clean_batch(self.cleaner, raw)):
                    return
            self._done()
            return
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, _init_cleaner, (self.cleaner,)) as pool:
            pending: deque = deque()
            for raw in batches:
                pending.append(pool.apply_async(_clean_in_worker, (raw,)))
                if len(pending) >= READ_AHEAD and not self._commit(pending.popleft().get()):
                    return
            while pending:
                if not self._commit(pending.popleft().get()):
                    return
        self._done()

    def _restart_dry_run(self) -> dict[str, int]:
        """Start a resumed (or taken over) dry run from its first row again.

        What a dry run's earlier batches would have created (``dry_seen``) and how full the
        lists would be lie in the memory of the run that stopped: continuing without them
        counts a later row of the same email as new again, and a list's room as untouched.
        It wrote nothing but its counts and report, so it simply does them over."""
        with transaction.atomic():
            restarted = ImportJob.objects.filter(pk=self.job.pk, worker=self.worker).update(
                offset=self.job.data_offset, rows_done=0, batches_done=0, total_rows=None,
                imported=0, updated=0, skipped=0, invalid=0,
            )  # fmt: skip
            if not restarted:
                raise LostLease
            ImportIssue.objects.filter(job_id=self.job.pk).delete()
        return {"offset": self.job.data_offset, "rows_done": 0}

    def _raw_batches(self, offset: int, rows_done: int) -> Iterator[RawBatch]:
        # The spreadsheet row of the last record read: blank lines are rows there too (a
        # resumed job counts those before where it resumes once).
        delimiter = self.job.delimiter
        row = 1 + rows_done
        row += blank_lines(self.path, delimiter=delimiter, offset=self.job.data_offset, end=offset)
        while True:
            records, end, gaps = read_batch(
                self.path, delimiter=delimiter, offset=offset, size=self.batch_size
            )
            if not records:
                return
            if gaps:
                numbers = []
                for index in range(len(records)):
                    row += 1 + gaps.get(index, 0)
                    numbers.append(row)
            else:
                numbers = list(range(row + 1, row + 1 + len(records)))
                row += len(records)
            yield RawBatch(numbers, records, offset, end)
            offset = end

    def _commit(self, cleaned: CleanBatch) -> bool:
        """Write one cleaned batch; False when the job was cancelled instead."""
        if ImportJob.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            self.finish(ImportStatus.CANCELLED)
            return False
        self._batch(cleaned)
        collect_batch_garbage()
        return True

    def _done(self) -> None:
        # A file without data rows is refused at upload; one that still gets here (queued
        # before, or its stored copy changed) must not end as a silent success with all zeros.
        empty = not ImportJob.objects.filter(pk=self.job.pk, rows_done__gt=0).exists()
        self.finish(ImportStatus.DONE, error=NOTHING_TO_IMPORT if empty else "")

    def finish(self, status: str, error: str = "") -> None:
        with transaction.atomic():
            updated = ImportJob.objects.filter(pk=self.job.pk, worker=self.worker).update(
                status=status,
                error=error,
                finished_at=timezone.now(),
                lease_until=None,
                cancel_requested=False,
                total_rows=F("rows_done") if status == ImportStatus.DONE else F("total_rows"),
            )
            if not updated:
                return
            job = ImportJob.objects.get(pk=self.job.pk)
            audit.record(
                actor=self.actor,
                action=f"import.{status}",
                obj=job,
                changes={
                    "imported": [None, job.imported],
                    "updated": [None, job.updated],
                    "skipped": [None, job.skipped],
                    "invalid": [None, job.invalid],
                },
            )
            if job.webhook_url:
                from contacts.imports.tasks import deliver_import_webhook

                transaction.on_commit(lambda: deliver_import_webhook.enqueue(job.pk, 1))

    # One batch ------------------------------------------------------------------------------

    def _batch(self, cleaned: CleanBatch) -> None:
        batch = _Batch()
        by_email: dict[str, CleanRow] = {}
        mode = self.job.mode
        for row, issues in cleaned.results:
            batch.issues.extend(issues)
            if row is None:
                batch.invalid += 1
                continue
            first = by_email.get(row.email)
            if first is None:
                by_email[row.email] = row
            elif mode == ImportMode.CREATE:
                batch.skip(
                    row,
                    "duplicate_in_file",
                    f"Same email as row {first.row}; create-only mode kept that row.",
                )
            else:
                # Counted with the row it merges into, once that row's outcome is known.
                first.merge(row)
                batch.issues.append(
                    Issue(
                        row.row,
                        "",
                        "duplicate_in_file",
                        f"Same email as row {first.row}; its values go on top of that row's, "
                        "which decides whether the contact is written.",
                        "warning",
                    )
                )
        offset, end = cleaned.offset, cleaned.end
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # The batch and the offset commit together, so a batch lost in a server crash
                # is simply read and written again on resume: no need to wait for the WAL
                # flush. (``finish`` commits normally, which flushes every batch before it.)
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            claimed = ImportJob.objects.filter(
                pk=self.job.pk, worker=self.worker, offset=offset, status=ImportStatus.RUNNING
            ).update(offset=end, lease_until=timezone.now() + LEASE)
            if claimed != 1:
                raise LostLease
            self._still_there(cleaned)
            self._write(list(by_email.values()), batch)
            ImportIssue.objects.bulk_create(
                [
                    ImportIssue(
                        job_id=self.job.pk,
                        row=issue.row,
                        column=issue.column[:100],
                        code=issue.code,
                        reason=issue.reason[:300],
                        outcome=issue.outcome,
                    )
                    for issue in batch.issues
                ],
                batch_size=1000,
            )
            ImportJob.objects.filter(pk=self.job.pk).update(
                rows_done=F("rows_done") + len(cleaned.results),
                batches_done=F("batches_done") + 1,
                imported=F("imported") + batch.imported,
                updated=F("updated") + batch.updated,
                skipped=F("skipped") + batch.skipped,
                invalid=F("invalid") + batch.invalid,
                seconds_running=F("seconds_running") + self._lap(),
            )

    def _still_there(self, cleaned: CleanBatch) -> None:
        """Follow the lists and custom fields deleted while the import runs, as those deleted
        before it: a list is reported on each row, a field stops the job naming it. Inside the
        batch's transaction, so none goes between this check and the batch's writes."""
        lists = _alive(ContactList, [cl.pk for cl in self.lists])
        for contact_list in [cl for cl in self.lists if cl.pk not in lists]:
            self.gone_lists[contact_list.pk] = (
                f"The list “{contact_list.name}” chosen for this import was deleted while it "
                "ran; the contact was imported but not added to it."
            )
        self.lists = [cl for cl in self.lists if cl.pk in lists]
        fields = _alive(Field, self.mapped_field_ids)
        for target, mapped in self.cleaner.fields.items():
            if mapped.pk not in fields:
                header = next(h for _, h, t in self.cleaner.columns if t == target)
                row, issues = cleaned.results[0]  # an invalid row always has its issue
                first = row.row if row else issues[0].row
                raise SwitchboardError(
                    "unknown_field",
                    f"The custom field “{mapped.name}” that the column “{header[:60]}” was "
                    f"mapped to was deleted while this import ran; the rows before row {first} "
                    "were imported. Upload the file again and map that column anew: contacts "
                    "already imported are matched by email, not added twice.",
                )

    def _lap(self) -> float:
        """Wall time since the previous batch (or the start of this run): rows/s counts the
        time this run worked, cleaning in parallel included, pauses between runs excluded."""
        now = time.perf_counter()
        lap, self.clock = now - self.clock, now
        return lap

    def _write(self, rows: list[CleanRow], batch: _Batch) -> None:
        # Lock the existing rows first, then read the suppression list: an erasure holding one
        # of them commits its suppression with the deletion, so a look-up made before the
        # wait would miss it and bring the person back as a new contact.
        existing = self._existing([r.email for r in rows])
        rows = self._without_suppressed(rows, batch)
        created_here: set[uuid.UUID] = set()
        if self.job.mode == ImportMode.CREATE and existing and not self.job.dry_run:
            created_here = self._created_by_this_job([c["id"] for c in existing.values()])
        to_create: list[CleanRow] = []
        to_update: list[tuple[CleanRow, dict[str, Any]]] = []
        for row in rows:
            current = existing.get(row.email)
            if self.job.dry_run and current is None and row.email in self.dry_seen:
                current = {"id": None, "unsubscribed_at": None, "dry": True}
            if current is not None and current["unsubscribed_at"] is not None:
                batch.skip(
                    row,
                    "unsubscribed",
                    "This person unsubscribed permanently; their contact was left as it is.",
                )
            elif current is not None and self.job.mode == ImportMode.CREATE:
                if current["id"] in created_here or current.get("dry"):
                    batch.skip(row, "duplicate_in_file", "Same email as an earlier row.")
                else:
                    batch.skip(row, "exists", "A contact with this email already exists.")
            elif current is not None:
                to_update.append((row, current))
            elif self.job.mode == ImportMode.UPDATE:
                batch.skip(row, "not_found", "No contact has this email (update-only mode).")
            else:
                to_create.append(row)
        if self.job.dry_run:
            self._dry_counts(to_create, to_update, batch)
            return
        now = timezone.now()
        tag_ids = self._tag_ids({t for r in rows for t in r.tags} | set(self.job.tag_names))
        out = _Rows(self, now)
        placing = _Placement(self, tag_ids, out, batch)
        placing.load([current["id"] for _, current in to_update])
        self._create(to_create, batch, out, placing)
        updated = self._update(to_update, batch, now)
        self._updated_tags_and_lists(updated, batch, out, placing)
        out.write()

    def _dry_counts(
        self,
        to_create: list[CleanRow],
        to_update: list[tuple[CleanRow, dict[str, Any]]],
        batch: _Batch,
    ) -> None:
        """Count what a real run would, writing nothing: an existing contact the file leaves
        as it is counts as unchanged, and lists fill up, as they would."""
        self.dry_seen.update(r.email for r in to_create)
        now = timezone.now()
        names = {t for r in [*to_create, *(r for r, _ in to_update)] for t in r.tags}
        out = _Rows(self, now)
        placing = _Placement(
            self, self._dry_tag_ids(names | set(self.job.tag_names)), out, batch, self.dry_room
        )
        for row in to_create:
            batch.imported += 1
            batch.updated += row.merged
            placing.add(uuid.uuid4(), None, row, new=True)
        # Rows for contacts an earlier batch would have created: updates of those.
        batch.updated += sum(1 + r.merged for r, current in to_update if current.get("dry"))
        existing = [(r, current) for r, current in to_update if not current.get("dry")]
        placing.load([current["id"] for _, current in existing])
        updated = self._update(existing, batch, now, write=False)
        self._updated_tags_and_lists(updated, batch, out, placing)
        self.dry_room = placing.room

    def _dry_tag_ids(self, names: set[str]) -> dict[str, int]:
        """Existing tags' ids; each tag a real run would create gets a stand-in no one has."""
        ids = {tag.name.lower(): tag.pk for tag in Tag.objects.named_any(names)}
        for name in sorted({n.lower() for n in names} - set(ids)):
            ids[name] = -1 - len(ids)
        return ids

    def _without_suppressed(self, rows: list[CleanRow], batch: _Batch) -> list[CleanRow]:
        if not rows or not Suppression.objects.exists():
            return rows
        emails: set[str] = set()
        phones: set[str] = set()
        for chunk in chunks(rows):
            emails |= suppressed_hashes(SuppressionKind.EMAIL, [r.email for r in chunk])
            phones |= suppressed_hashes(
                SuppressionKind.PHONE, [r.phone.e164 for r in chunk if r.phone]
            )
        kept = []
        for row in rows:
            if row.email in emails or (row.phone and row.phone.e164 in phones):
                batch.skip(
                    row,
                    "suppressed",
                    "This person was erased or permanently unsubscribed and is not re-imported.",
                )
            else:
                kept.append(row)
        return kept

    def _existing(self, emails: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        columns = ["id", "email", "version", "unsubscribed_at", "phone_type", *CONTACT_COLUMNS]
        for chunk in chunks(emails):
            query = Contact.objects.filter(email__in=chunk)
            if not self.job.dry_run:
                # PostgreSQL: hold the rows so a concurrent edit waits for this batch instead
                # of being overwritten (SQLite's IMMEDIATE transaction already locks writers).
                query = query.select_for_update()
            for values in query.values(*columns):
                found[values["email"]] = values
        return found

    def _created_by_this_job(self, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        created: set[uuid.UUID] = set()
        for chunk in chunks(ids):
            created.update(
                AuditEntry.objects.filter(
                    actor_kind=ActorKind.IMPORT,
                    actor_ref=str(self.job.pk),
                    action="contact.create",
                    contact_id__in=chunk,
                ).values_list("contact_id", flat=True)
            )
        return created

    def _tag_ids(self, names: set[str]) -> dict[str, int]:
        # A tag deleted while the import runs is created again, as one deleted before it.
        known = {n.lower() for n in names if n.lower() in self.tag_ids}
        alive = _alive(Tag, [self.tag_ids[n] for n in known])
        for name in known:
            if self.tag_ids[name] not in alive:
                del self.tag_ids[name]
        missing = {n for n in names if n.lower() not in self.tag_ids}
        if missing:
            for tag in Tag.objects.named_any(missing):
                self.tag_ids[tag.name.lower()] = tag.pk
                self.tag_names[tag.pk] = tag.name
            for name in missing:
                if name.lower() not in self.tag_ids:
                    # Case-insensitive lookup and audit for the few tags that may be new.
                    tag = tag_service.get_or_create_tag(actor=self.actor, name=name)
                    self.tag_ids[name.lower()] = tag.pk
                    self.tag_names[tag.pk] = tag.name
        return self.tag_ids

    def _create(self, rows: list[CleanRow], batch: _Batch, out: _Rows, placing: _Placement) -> None:
        """Insert new contacts with their field values, tags, lists, audit and history rows.

        Rows are built as lists in column order (``sql.Template``): at thousands of rows a
        batch, per-row dicts, merges and conversions were most of the writer's time.
        """
        if not rows:
            return
        contact_t = out.contact
        slot = contact_t.slot
        i_id, i_email, i_phone, i_country, i_type = (
            slot["id"], slot["email"], slot["phone"], slot["phone_country"], slot["phone_type"]
        )  # fmt: skip
        i_first, i_last, i_first_key, i_last_key, i_meta = (
            slot["first_name"], slot["last_name"], slot["first_name_key"],
            slot["last_name_key"], slot["metadata"],
        )  # fmt: skip
        db_uuid = sql.uuid_to_db()
        ids = uuid7_many(len(rows))
        contacts = []
        for contact_id, row in zip(ids, rows, strict=True):
            first_key, last_key = name_keys(row)
            values = contact_t.new()
            values[i_id] = db_uuid(contact_id)
            values[i_email] = row.email
            if row.phone:
                values[i_phone] = row.phone.e164
                values[i_country] = row.phone.region
                values[i_type] = row.phone.type  # for campaign screening
            values[i_first] = row.first_name or ""
            values[i_last] = row.last_name or ""
            values[i_first_key] = first_key
            values[i_last_key] = last_key
            if row.meta:
                values[i_meta] = sql.db_json(row.meta)
            contacts.append(values)
        if connection.vendor == "postgresql":
            mark = (batch.mark(), out.mark(), placing.mark())
            try:
                # COPY straight into the table, in a savepoint: almost always nobody else
                # created one of these emails since the batch looked them up. The server
                # inserts while this process builds the contacts' other rows.
                with transaction.atomic(), sql.copying(Contact, contact_t.names, contacts):
                    self._created(ids, rows, set(ids), batch, out, placing)
            except IntegrityError:
                # Someone did: insert through ON CONFLICT DO NOTHING and skip those rows.
                batch.reset(mark[0])
                out.reset(mark[1])
                placing.reset(mark[2])
                inserted = set(
                    sql.insert_values(
                        Contact, contact_t.names, contacts, conflict=["email"], returning="id"
                    )
                )
                self._created(ids, rows, inserted, batch, out, placing)
        else:
            # The IMMEDIATE transaction holds the write lock: no one else inserts meanwhile.
            sql.insert_values(Contact, contact_t.names, contacts)
            self._created(ids, rows, set(ids), batch, out, placing)

    def _created(
        self,
        ids: list[uuid.UUID],
        rows: list[CleanRow],
        inserted: set[uuid.UUID],
        batch: _Batch,
        out: _Rows,
        placing: _Placement,
    ) -> None:
        """Queue the field values, tags, lists, audit and history rows of the inserted contacts.

        No queries: on PostgreSQL this runs while the contacts are still being copied in.
        """
        db_uuid = sql.uuid_to_db()
        label = f"Imported from {self.job.file_name} ({self.actor.label.split(' (')[0]})"
        field_names = self.field_names
        jsonable = audit.jsonable
        created = InteractionKind.CREATED.value
        for contact_id, row in zip(ids, rows, strict=True):
            if contact_id not in inserted:
                batch.skip(
                    row,
                    "created_concurrently",
                    "Someone created this contact while the import ran; re-run to update it.",
                )
                continue
            batch.imported += 1
            batch.updated += row.merged  # later rows applied on top of the new contact
            db_id = db_uuid(contact_id)
            changes: dict[str, list[Any]] = {"email": [None, row.email]}
            if row.phone:
                changes["phone"] = [None, row.phone.e164]
                changes["phone_country"] = [None, row.phone.region]
            if row.first_name:
                changes["first_name"] = [None, row.first_name]
            if row.last_name:
                changes["last_name"] = [None, row.last_name]
            if row.meta:
                changes["metadata"] = [None, row.meta]
            for field_id, value in row.fields.items():
                out.value(db_id, field_id, value)
                changes[f"field:{field_names[field_id]}"] = [None, jsonable(value)]
            new_tags, new_lists = placing.add(contact_id, db_id, row, new=True)
            if new_tags:
                changes["tags"] = [[], new_tags]
            if new_lists:
                changes["lists"] = [[], new_lists]
            out.audit(
                action="contact.create",
                contact_id=contact_id,
                db_id=db_id,
                email=row.email,
                changes=changes,
                kind=created,
                description=label,
            )

    def _value_row(self, contact_id: uuid.UUID, field_id: int, value: Any) -> dict[str, Any]:
        row = {"contact_id": contact_id, "field_id": field_id, **self.empty_values}
        row[self.value_columns[field_id]] = value
        return row

    def _update(
        self,
        pairs: list[tuple[CleanRow, dict[str, Any]]],
        batch: _Batch,
        now: dt.datetime,
        *,
        write: bool = True,
    ) -> list[tuple[uuid.UUID, CleanRow, dict]]:
        if not pairs:
            return []
        ids = [current["id"] for _, current in pairs]
        stored_values: dict[tuple[uuid.UUID, int], Any] = {}
        if self.mapped_field_ids:
            for chunk in chunks(ids):
                for fv in FieldValue.objects.filter(
                    contact_id__in=chunk, field_id__in=self.mapped_field_ids
                ).select_related("field"):
                    stored_values[(fv.contact_id, fv.field_id)] = fv.value
        contact_rows, value_rows = [], []
        updated: list[tuple[uuid.UUID, CleanRow, dict]] = []
        for row, current in pairs:
            after = {key: current[key] for key in CONTACT_COLUMNS}
            if row.phone:
                after["phone"], after["phone_country"] = row.phone.e164, row.phone.region
            if row.first_name:
                after["first_name"] = row.first_name
            if row.last_name:
                after["last_name"] = row.last_name
            if row.meta:
                after["metadata"] = {**current["metadata"], **row.meta}
            before = {key: current[key] for key in CONTACT_COLUMNS}
            changes = audit.diff(before, after)
            for field_id, value in row.fields.items():
                old = stored_values.get((current["id"], field_id))
                if old != value:
                    value_rows.append(self._value_row(current["id"], field_id, value))
                    changes[f"field:{self.field_names[field_id]}"] = [
                        audit.jsonable(old),
                        audit.jsonable(value),
                    ]
            if changes:
                first_key, last_key = name_keys(
                    CleanRow(0, "", None, after["first_name"], after["last_name"])
                )
                contact_rows.append(
                    {
                        "id": current["id"],
                        **after,
                        # The type goes with the phone (not audited, derived).
                        "phone_type": row.phone.type if row.phone else current["phone_type"],
                        "first_name_key": first_key,
                        "last_name_key": last_key,
                        "updated_at": now,
                        "version": current["version"] + 1,
                    }
                )
            updated.append((current["id"], row, changes))
        if not write:
            return updated
        sql.update(
            Contact,
            contact_rows,
            key="id",
            columns=[
                *CONTACT_COLUMNS, "phone_type", "first_name_key", "last_name_key", "updated_at",
                "version",
            ],
        )  # fmt: skip
        sql.insert(
            FieldValue, value_rows, conflict=["contact_id", "field_id"], update=_VALUE_COLUMNS
        )
        return updated

    def _updated_tags_and_lists(
        self,
        updated: list[tuple[uuid.UUID, CleanRow, dict]],
        batch: _Batch,
        out: _Rows,
        placing: _Placement,
    ) -> None:
        label = f"Updated by import from {self.job.file_name}"
        db_uuid = sql.uuid_to_db()
        for contact_id, row, changes in updated:
            db_id = db_uuid(contact_id)
            new_tags, new_lists = placing.add(contact_id, db_id, row, new=False)
            if new_tags:
                changes["tags"] = [[], new_tags]
            if new_lists:
                changes["lists"] = [[], new_lists]
            if not changes:
                batch.skip(row, "unchanged", "The contact already holds these values.")
                continue
            batch.updated += 1 + row.merged
            out.audit(
                action="contact.update",
                contact_id=contact_id,
                db_id=db_id,
                email=row.email,
                changes=changes,
                kind=InteractionKind.UPDATED.value,
                description=f"{label}: " + ", ".join(k.removeprefix("field:") for k in changes),
            )


def _alive(model: type[models.Model], ids: list[int]) -> set[int]:
    """Those of ``ids`` still there, and kept there until the transaction ends: PostgreSQL
    holds them with FOR KEY SHARE (other imports and edits pass, deletes wait); SQLite's
    IMMEDIATE transaction already keeps every other writer out."""
    alive: set[int] = set()
    for chunk in chunks(ids):
        query = model.objects.filter(pk__in=chunk).values_list("pk")
        if connection.vendor == "postgresql":
            text, params = query.query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(f"{text} FOR KEY SHARE", params)
                alive.update(pk for (pk,) in cursor.fetchall())
        else:
            alive.update(pk for (pk,) in query)
    return alive


class _Rows:
    """What one batch inserts (all but the updates of existing contacts): lists in each
    table's column order, from templates holding the batch's constants (time, actor)."""

    def __init__(self, runner: Runner, now: dt.datetime):
        actor = runner.actor
        who = {
            "actor_kind": actor.kind.value,
            "actor_user_id": None,
            "actor_ref": actor.ref,
            "actor_label": actor.label,
        }
        self.contact = sql.Template(
            Contact,
            email_consent=Consent.UNKNOWN.value,
            sms_consent=Consent.UNKNOWN.value,
            unsubscribed_at=None,
            source=ActorKind.IMPORT.value,
            created_at=now,
            updated_at=now,
            version=1,
        )
        self.value_t = sql.Template(FieldValue)
        self.audit_t = sql.Template(
            AuditEntry, at=now, object_type="contact", prompt_version_id=None, **who
        )
        self.interaction_t = sql.Template(
            Interaction, name="", data=runner.interaction_data, occurred_at=now, **who
        )
        self.tag_t = sql.Template(ContactTag, added_at=now)
        self.list_t = sql.Template(ListMembership, added_at=now)
        self.values: list[list[Any]] = []
        self.audits: list[list[Any]] = []
        self.interactions: list[list[Any]] = []
        # Rows for contacts this batch created go straight in (COPY on PostgreSQL): nobody
        # else can have tagged or listed a contact that is not committed yet. Existing
        # contacts' rows go through ON CONFLICT DO NOTHING, as someone may add them meanwhile.
        self.tags: list[list[Any]] = []
        self.new_tags: list[list[Any]] = []
        self.lists: list[list[Any]] = []
        self.new_lists: list[list[Any]] = []
        # field id -> (the slot of its value column, conversion to database form)
        self.value_slots = {
            f.pk: (self.value_t.slot[f.value_column], self.value_t.converter(f.value_column))
            for f in runner.fields
        }

    def _queues(self) -> list[list[list[Any]]]:
        return [self.values, self.audits, self.interactions, self.tags, self.new_tags,
                self.lists, self.new_lists]  # fmt: skip

    def mark(self) -> list[int]:
        return [len(queue) for queue in self._queues()]

    def reset(self, mark: list[int]) -> None:
        """Drop the rows queued since ``mark``."""
        for queue, length in zip(self._queues(), mark, strict=True):
            del queue[length:]

    def value(self, db_id: Any, field_id: int, value: Any) -> None:
        slot = self.value_t.slot
        row = self.value_t.new()
        row[slot["contact_id"]] = db_id
        row[slot["field_id"]] = field_id
        index, convert = self.value_slots[field_id]
        row[index] = convert(value)
        self.values.append(row)

    def tag(self, db_id: Any, tag_id: int, *, new: bool) -> None:
        row = self.tag_t.new()
        row[self.tag_t.slot["contact_id"]] = db_id
        row[self.tag_t.slot["tag_id"]] = tag_id
        (self.new_tags if new else self.tags).append(row)

    def membership(self, db_id: Any, list_id: int, *, new: bool) -> None:
        row = self.list_t.new()
        row[self.list_t.slot["contact_id"]] = db_id
        row[self.list_t.slot["list_id"]] = list_id
        (self.new_lists if new else self.lists).append(row)

    def audit(self, *, action, contact_id, db_id, email, changes, kind, description) -> None:
        """One audit entry (what revert replays) and one history entry for the contact."""
        slot = self.audit_t.slot
        entry = self.audit_t.new()
        entry[slot["action"]] = action
        entry[slot["object_id"]] = str(contact_id)
        entry[slot["object_repr"]] = email[:200]
        entry[slot["contact_id"]] = db_id
        entry[slot["changes"]] = sql.db_json(changes)
        self.audits.append(entry)
        slot = self.interaction_t.slot
        interaction = self.interaction_t.new()
        interaction[slot["contact_id"]] = db_id
        interaction[slot["kind"]] = kind
        interaction[slot["description"]] = description[:500]
        self.interactions.append(interaction)

    def write(self) -> None:
        sql.insert_values(FieldValue, self.value_t.names, self.values)
        sql.insert_values(ContactTag, self.tag_t.names, self.new_tags)
        sql.insert_values(
            ContactTag, self.tag_t.names, self.tags, conflict=["tag_id", "contact_id"]
        )
        sql.insert_values(ListMembership, self.list_t.names, self.new_lists)
        sql.insert_values(
            ListMembership, self.list_t.names, self.lists, conflict=["list_id", "contact_id"]
        )
        sql.insert_values(AuditEntry, self.audit_t.names, self.audits)
        sql.insert_values(Interaction, self.interaction_t.names, self.interactions)


class _Placement:
    """Which of a row's tags and the job's lists a contact gets: tags it does not have yet,
    lists it is not in yet and that have room (else a list_full warning)."""

    def __init__(
        self,
        runner: Runner,
        tag_ids: dict[str, int],
        out: _Rows,
        batch: _Batch,
        room: dict[int, int | None] | None = None,
    ):
        self.tag_ids = tag_ids
        self.job_tags = [tag_ids[n.lower()] for n in runner.job.tag_names]
        self.names_by_id = {v: runner.tag_names.get(v, k) for k, v in tag_ids.items()}
        self.lists = runner.lists
        self.gone_lists = runner.gone_lists
        # ``room``: what is left from the previous batch of a dry run (which adds no one).
        self.room = (
            dict(room)
            if room is not None
            else {
                cl.pk: (None if cl.limit is None else cl.limit - cl.memberships.count())
                for cl in self.lists
            }
        )
        self.have_tags: dict[uuid.UUID, set[int]] = {}
        self.have_lists: dict[uuid.UUID, set[int]] = {}
        self.out = out
        self.batch = batch

    def load(self, contact_ids: list[uuid.UUID]) -> None:
        """What the existing contacts of the batch already have."""
        for chunk in chunks(contact_ids):
            for contact_id, tag_id in ContactTag.objects.filter(contact_id__in=chunk).values_list(
                "contact_id", "tag_id"
            ):
                self.have_tags.setdefault(contact_id, set()).add(tag_id)
            if self.lists:
                for contact_id, list_id in ListMembership.objects.filter(
                    contact_id__in=chunk, list__in=self.lists
                ).values_list("contact_id", "list_id"):
                    self.have_lists.setdefault(contact_id, set()).add(list_id)

    def mark(self) -> dict[int, int | None]:
        return dict(self.room)

    def reset(self, mark: dict[int, int | None]) -> None:
        self.room = dict(mark)

    def add(
        self, contact_id: uuid.UUID, db_id: Any, row: CleanRow, *, new: bool
    ) -> tuple[list[str], list[int]]:
        """(names of the tags added, ids of the lists joined), with their rows queued;
        ``new``: the contact is one this batch creates."""
        new_tags: list[int] = []
        if row.tags or self.job_tags:
            tag_ids = self.tag_ids
            wanted = dict.fromkeys([*(tag_ids[t.lower()] for t in row.tags), *self.job_tags])
            have = self.have_tags.get(contact_id, ())
            new_tags = [t for t in wanted if t not in have]
            for tag_id in new_tags:
                self.out.tag(db_id, tag_id, new=new)
        new_lists = []
        for reason in self.gone_lists.values():
            self.batch.issues.append(Issue(row.row, "", "unknown_list", reason, "warning"))
        room = self.room
        for contact_list in self.lists:
            if contact_list.pk in self.have_lists.get(contact_id, ()):
                continue
            if room[contact_list.pk] is not None:
                if room[contact_list.pk] <= 0:
                    self.batch.issues.append(
                        Issue(
                            row.row,
                            "",
                            "list_full",
                            f"The list “{contact_list.name}” is full; the contact was "
                            "imported but not added to it.",
                            "warning",
                        )
                    )
                    continue
                room[contact_list.pk] -= 1
            new_lists.append(contact_list.pk)
            self.out.membership(db_id, contact_list.pk, new=new)
        return [self.names_by_id[t] for t in new_tags], new_lists
