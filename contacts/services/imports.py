"""Importing contacts from CSV files: upload, map, run in batches, cancel, resume, revert.

Entry points (views, ``manage.py import_contacts`` and the agent API all call these):

- ``upload_import`` stores the file and suggests a mapping (status draft);
  ``configure_import`` validates the mapping and options and queues the job;
  ``start_import`` does both at once.
- ``run_import(job_id)`` is what the background task calls. It claims the job with a
  conditional UPDATE (or takes over a crashed worker's expired lease) and works through the
  file in batches. Each batch is one transaction that first moves the job's byte offset
  forward (conditionally: the offset it read, the worker it is), then writes the batch's
  contacts, field values, tags, list memberships, audit entries, history and error-report
  rows. So a killed worker loses at most an uncommitted batch, and the next run starts
  exactly after the last committed one.
- ``cancel_import``, ``resume_import``, ``revert_preview`` / ``request_revert`` /
  ``revert_import``.

Every contact write has the job as actor (``Actor.import_job``); one AuditEntry per row holds
the before/after values, which is what revert replays backwards.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.imports.csvreader import store_upload
from contacts.imports.mapping import (
    auto_mapping,
    field_names_now,
    header_key,
    mapping_by_header,
    mapping_for_headers,
    validate_mapping,
)
from contacts.imports.models import (
    REVERTIBLE_STATUSES,
    ImportJob,
    ImportMode,
    ImportStatus,
    SavedMapping,
)
from contacts.imports.runner import LEASE, LostLease, Runner, chunks
from contacts.models import (
    Contact,
    ContactList,
    Field,
    Tag,
)
from contacts.services import contacts as contact_service
from contacts.services import lists as list_service
from contacts.services import tags as tag_service
from contacts.services.exports import safe_cell
from dashboard import audit, outbound
from dashboard.actors import Actor, ActorKind
from dashboard.errors import Problems, SwitchboardError
from dashboard.models import AuditEntry

logger = logging.getLogger(__name__)

# --- Upload and configuration -------------------------------------------------------------


def upload_import(
    *, actor: Actor, file: IO[bytes], file_name: str, size: int | None = None
) -> ImportJob:
    """Store the upload as UTF-8 and suggest a mapping: the last one used for the same headers,
    else one matched from common header names."""
    name = Path(file_name or "upload.csv").name[:255]
    target = Path(settings.IMPORT_DIR) / f"{uuid.uuid4().hex}.csv"
    try:
        stored = store_upload(file, target, max_bytes=settings.IMPORT_MAX_BYTES, size=size)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    saved = SavedMapping.objects.filter(header_key=header_key(stored.headers)).first()
    fields = list(Field.objects.all())
    if saved:
        mapping = mapping_for_headers(saved.mapping, stored.headers)
    else:
        mapping = auto_mapping(stored.headers, fields)
    with transaction.atomic():
        job = ImportJob.objects.create(
            actor_kind=actor.kind,
            actor_user_id=actor.user_id,
            actor_ref=actor.ref,
            actor_label=actor.label,
            file_name=name,
            file_path=str(stored.path),
            file_size=stored.size,
            encoding=stored.encoding,
            delimiter=stored.delimiter,
            headers=stored.headers,
            data_offset=stored.data_offset,
            offset=stored.data_offset,
            mapping=mapping,
            default_region=settings.PHONE_DEFAULT_REGION,
        )
        audit.record(
            actor=actor, action="import.upload", obj=job, changes={"file_name": [None, name]}
        )
    return job


# The option checks below are public so the mapping form can run them all at once and show
# every error together; configure_import runs them again for every other caller.


def clean_mapping(mapping: Mapping[str, str], headers: list[str]) -> dict[str, str]:
    """The mapping (keyed by column index or header name) keyed by column index, unmapped
    columns dropped, or a SwitchboardError naming each of its problems."""
    return validate_mapping(mapping, headers, Field.objects.all())


def clean_region(region: str) -> str:
    """The default phone region, upper-cased (empty: the site's), or a SwitchboardError."""
    region = (region or settings.PHONE_DEFAULT_REGION).strip().upper()
    if not phonenumbers.country_code_for_region(region):
        raise SwitchboardError(
            "invalid_region",
            f"“{region}” is not a country code such as GB, FR or US.",
            field="default_region",
        )
    return region


def clean_webhook_url(url: str) -> str:
    """An http(s) URL to a public address, or empty for none, or a SwitchboardError."""
    url = (url or "").strip()
    if not url:
        return url
    max_length = ImportJob._meta.get_field("webhook_url").max_length
    if len(url) > max_length:
        raise SwitchboardError(
            "invalid_webhook_url",
            f"A webhook URL can be at most {max_length} characters.",
            field="webhook_url",
        )
    try:
        # Django's validator lets control characters through; no HTTP client sends them.
        if _CONTROL.search(url):
            raise ValidationError("control character")
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise SwitchboardError(
            "invalid_webhook_url",
            f"“{_CONTROL.sub('?', url)}” is not an http(s) URL.",
            field="webhook_url",
        ) from None
    outbound.check_public(url, field="webhook_url")
    return url


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@transaction.atomic
def configure_import(
    *,
    actor: Actor,
    job: ImportJob,
    mapping: Mapping[str, str],
    mode: str = ImportMode.UPSERT,
    list_ids: Iterable[int] = (),
    tag_names: Iterable[str] = (),
    default_region: str = "",
    dry_run: bool = False,
    webhook_url: str = "",
    enqueue: bool = True,
) -> ImportJob:
    """Validate the mapping and options and queue the job (``enqueue=False``: the caller runs
    ``run_import`` itself, as the management command does).

    A SwitchboardError names every problem with them at once (``problems``; ``errors`` in its
    details); one problem alone keeps its own code, as ``invalid_import`` stands for several.
    """
    locked = ImportJob.objects.select_for_update().get(pk=job.pk)
    if locked.status != ImportStatus.DRAFT:
        raise SwitchboardError(
            "import_started", "This import has already been started; upload the file again."
        )
    # Every option is checked, and every problem reported together: an agent or a script
    # fixing its request should not learn of them one attempt at a time.
    problems = Problems()
    clean = problems.check(clean_mapping, mapping, locked.headers)
    if mode not in ImportMode.values:
        problems.add(
            SwitchboardError(
                "invalid_mode",
                f"The mode is one of {', '.join(ImportMode.values)}; got “{mode}”.",
                field="mode",
            )
        )
    lists = [problems.check(list_service.get_list, list_id) for list_id in list_ids]
    tags = [problems.check(tag_service.clean_tag_name, name) for name in tag_names]
    region = problems.check(clean_region, default_region)
    webhook_url = problems.check(clean_webhook_url, webhook_url)
    problems.raise_any(code="invalid_import", summary="{count} problems with this import")
    assert clean is not None and region is not None and webhook_url is not None
    locked.mapping = clean
    locked.mode = mode
    locked.list_ids = [contact_list.pk for contact_list in lists if contact_list]
    locked.tag_names = list(dict.fromkeys(name for name in tags if name))
    locked.default_region = region
    locked.dry_run = bool(dry_run)
    locked.webhook_url = webhook_url
    locked.status = ImportStatus.QUEUED
    locked.save()
    SavedMapping.objects.update_or_create(
        header_key=header_key(locked.headers),
        defaults={
            "mapping": mapping_by_header(clean, locked.headers),
            "updated_at": timezone.now(),
        },
    )
    audit.record(
        actor=actor,
        action="import.start",
        obj=locked,
        changes={"mode": [None, mode], "dry_run": [None, locked.dry_run]},
    )
    if enqueue:
        _enqueue_run(locked.pk)
    return locked


def start_import(
    *,
    actor: Actor,
    file: IO[bytes],
    file_name: str,
    size: int | None = None,
    mapping: Mapping[str, str] | None = None,
    **options: Any,
) -> ImportJob:
    """Upload and queue in one step; ``mapping=None`` uses the suggested mapping."""
    job = upload_import(actor=actor, file=file, file_name=file_name, size=size)
    try:
        return configure_import(
            actor=actor, job=job, mapping=job.mapping if mapping is None else mapping, **options
        )
    except SwitchboardError:
        Path(job.file_path).unlink(missing_ok=True)
        job.delete()
        raise


def _enqueue_run(job_id: int) -> None:
    from contacts.imports.tasks import run_import_task

    transaction.on_commit(lambda: run_import_task.enqueue(job_id))


# --- Cancel and resume ---------------------------------------------------------------------


@transaction.atomic
def cancel_import(*, actor: Actor, job: ImportJob) -> ImportJob:
    """Stop a queued job now, a running one after its current batch (or now if its worker died)."""
    locked = ImportJob.objects.select_for_update().get(pk=job.pk)
    if locked.status == ImportStatus.QUEUED or (
        locked.status == ImportStatus.RUNNING and _lease_expired(locked)
    ):
        locked.status = ImportStatus.CANCELLED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at"])
        if locked.webhook_url:
            # It ends here, not in a worker: the receiver hears of it all the same.
            from contacts.imports.tasks import deliver_import_webhook

            transaction.on_commit(lambda: deliver_import_webhook.enqueue(locked.pk, 1))
    elif locked.status == ImportStatus.RUNNING:
        locked.cancel_requested = True
        locked.save(update_fields=["cancel_requested"])
    else:
        raise SwitchboardError(
            "import_not_running", f"This import is {locked.get_status_display().lower()}."
        )
    audit.record(actor=actor, action="import.cancel", obj=locked)
    return locked


def _lease_expired(job: ImportJob) -> bool:
    return job.lease_until is None or job.lease_until < timezone.now()


def is_stalled(job: ImportJob) -> bool:
    """Running, but its worker stopped renewing the lease (killed or crashed)."""
    return job.status == ImportStatus.RUNNING and _lease_expired(job)


@transaction.atomic
def resume_import(*, actor: Actor, job: ImportJob, enqueue: bool = True) -> ImportJob:
    """Queue a cancelled, failed or stalled job again; it continues after its last batch
    (``enqueue=False``: the caller runs it, as ``configure_import``)."""
    locked = ImportJob.objects.select_for_update().get(pk=job.pk)
    if not (locked.can_resume or is_stalled(locked)):
        raise SwitchboardError(
            "import_not_resumable",
            f"Only a cancelled, failed or stalled import can be resumed; this one is "
            f"{locked.get_status_display().lower()}.",
        )
    if not (locked.file_path and Path(locked.file_path).exists()):
        raise SwitchboardError(
            "import_file_gone",
            f"The uploaded file was deleted {settings.IMPORT_FILE_RETENTION_DAYS} days after this "
            "import stopped. Upload it again to import the rest: rows already imported are "
            "matched by email, not added twice.",
        )
    if locked.status != ImportStatus.RUNNING:
        locked.status = ImportStatus.QUEUED
    locked.cancel_requested = False
    locked.error = ""
    locked.finished_at = None
    locked.save(update_fields=["status", "cancel_requested", "error", "finished_at"])
    audit.record(actor=actor, action="import.resume", obj=locked)
    if enqueue:
        _enqueue_run(locked.pk)
    return locked


# --- Running ---------------------------------------------------------------------------------


def run_import(job_id: int, *, worker: str = "") -> ImportJob:
    """Work through a queued job (or take over a stalled one) until done, cancelled or failed."""
    worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    now = timezone.now()
    claimed = (
        ImportJob.objects.filter(pk=job_id)
        .filter(
            Q(status=ImportStatus.QUEUED)
            | Q(status=ImportStatus.RUNNING, lease_until__lt=now)
            | Q(status=ImportStatus.RUNNING, lease_until__isnull=True)
        )
        .update(
            status=ImportStatus.RUNNING,
            worker=worker,
            lease_until=now + LEASE,
            started_at=Coalesce("started_at", now),
        )
    )
    job = ImportJob.objects.get(pk=job_id)
    if not claimed:
        return job
    runner = Runner(job, worker)
    try:
        runner.run()
    except LostLease:
        logger.info("import %s: another worker took over", job_id)
    except Exception as exc:
        logger.exception("import %s failed", job_id)
        message = exc.message if isinstance(exc, SwitchboardError) else f"Internal error: {exc}"
        runner.finish(ImportStatus.FAILED, error=message[:500])
    job.refresh_from_db()
    if job.status == ImportStatus.DONE:
        # Nothing reads a finished import's file again (its report is in ImportIssue), and it
        # holds every row's personal data, erased people's too.
        Path(job.file_path).unlink(missing_ok=True)
    return job


# --- Housekeeping ----------------------------------------------------------------------------


def prune_import_files(*, now: dt.datetime | None = None) -> int:
    """Delete the stored files nothing can use any more; the number of files deleted.

    Run hourly by every worker (IMPORT_DIR is shared, so any of them may): a finished job's
    file (one left by a run before files went at once), a cancelled or failed job's once
    IMPORT_FILE_RETENTION_DAYS have passed (resume then asks for the file again), and an
    upload never mapped after IMPORT_DRAFT_RETENTION_HOURS, with its draft job.
    """
    now = now or timezone.now()
    kept_until = now - dt.timedelta(days=settings.IMPORT_FILE_RETENTION_DAYS)
    stale = ImportJob.objects.filter(
        Q(status__in=[ImportStatus.DONE, ImportStatus.REVERTED])
        | Q(status__in=[ImportStatus.CANCELLED, ImportStatus.FAILED], finished_at__lt=kept_until)
    ).exclude(file_path="")
    drafts = ImportJob.objects.filter(
        status=ImportStatus.DRAFT,
        created_at__lt=now - dt.timedelta(hours=settings.IMPORT_DRAFT_RETENTION_HOURS),
    )
    deleted, stale_ids = _delete_files(stale)
    for ids in chunks(stale_ids):
        ImportJob.objects.filter(pk__in=ids).update(file_path="")
    gone, draft_ids = _delete_files(drafts)
    for ids in chunks(draft_ids):
        ImportJob.objects.filter(pk__in=ids, status=ImportStatus.DRAFT).delete()
    return deleted + gone


def _delete_files(jobs) -> tuple[int, list[int]]:
    """(files deleted, the jobs' ids) for these jobs' stored files."""
    deleted, ids = 0, []
    for job_id, file_path in jobs.values_list("pk", "file_path").iterator():
        if file_path and Path(file_path).exists():
            Path(file_path).unlink(missing_ok=True)
            deleted += 1
        ids.append(job_id)
    return deleted, ids


# --- Error report ----------------------------------------------------------------------------


def error_report_rows(job: ImportJob) -> Iterator[list[Any]]:
    """The error report as CSV rows (header first), read from the database in chunks."""
    yield ["row", "column", "outcome", "code", "reason"]
    issues = job.issues.order_by("row", "id").values_list(
        "row", "column", "outcome", "code", "reason"
    )
    for row, column, outcome, code, reason in issues.iterator(chunk_size=2000):
        # Column names come from the uploaded file: one like "=cmd|…" must not run as a
        # formula when the report is opened in a spreadsheet.
        yield [row, safe_cell(column), outcome, code, safe_cell(reason)]


# --- Revert ----------------------------------------------------------------------------------


@dataclass
class RevertPlan:
    delete: int = 0  # contacts the import created, still there
    restore: int = 0  # contacts it changed, to be put back
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # changed since by others
    conflict_count: int = 0
    gone: int = 0  # deleted since: nothing to do
    left_changed: int = 0  # changed since by others and left as they are (revert_import)


def _job_entries(job: ImportJob):
    return AuditEntry.objects.filter(
        actor_kind=ActorKind.IMPORT,
        actor_ref=str(job.pk),
        action__in=("contact.create", "contact.update"),
    ).order_by("id")


def _revert_targets(
    job: ImportJob,
) -> tuple[dict[uuid.UUID, int], dict[uuid.UUID, dict], set[uuid.UUID]]:
    """(created contact id -> first entry id, updated contact id -> earliest before values,
    created contacts merged with older ones since)."""
    created: dict[uuid.UUID, int] = {}
    restore: dict[uuid.UUID, dict[str, Any]] = {}
    for entry_id, action, contact_id, changes in (
        _job_entries(job)
        .values_list("id", "action", "contact_id", "changes")
        .iterator(chunk_size=5000)
    ):
        if action == "contact.create":
            created[contact_id] = entry_id
        elif contact_id not in created:
            before = restore.setdefault(contact_id, {"_first": entry_id})
            for key, (old, new) in changes.items():
                if key in ("tags", "lists"):
                    before.setdefault(key, []).extend(new or [])
                else:
                    before.setdefault(key, old)
    merged = _with_older_history(created)
    for contact_id in merged:
        del created[contact_id]
    return created, restore, merged


def _with_older_history(created: dict[uuid.UUID, int]) -> set[uuid.UUID]:
    """Contacts the import created that now carry history from before it: merged with (or
    into) a contact that already existed, whose trail moved onto them. Deleting one would
    delete that older contact; revert leaves them as they are."""
    older: set[uuid.UUID] = set()
    for chunk in chunks(list(created)):
        firsts = (
            AuditEntry.objects.filter(contact_id__in=chunk)
            .values("contact_id")
            .annotate(first=Min("id"))
            .values_list("contact_id", "first")
        )
        older.update(cid for cid, first in firsts if first < created[cid])
    return older


def _changed_since(job: ImportJob, firsts: dict[uuid.UUID, int]) -> dict[uuid.UUID, str]:
    """Contacts someone other than this import changed after the import touched them."""
    changed: dict[uuid.UUID, str] = {}
    ids = list(firsts)
    for chunk in chunks(ids):
        entries = (
            # Only changes to the contact (contact.update, .tag, .list_add, …): a text sent
            # to it (sms.send) or its opt-out is not something revert would undo or lose.
            AuditEntry.objects.filter(contact_id__in=chunk, action__startswith="contact.")
            .exclude(actor_kind=ActorKind.IMPORT, actor_ref=str(job.pk))
            .values_list("contact_id", "id", "actor_label")
        )
        for contact_id, entry_id, label in entries:
            if entry_id > firsts[contact_id]:
                changed[contact_id] = label
    return changed


def revert_preview(job: ImportJob) -> RevertPlan:
    created, restore, merged = _revert_targets(job)
    firsts = {**created, **{cid: before["_first"] for cid, before in restore.items()}}
    alive = _existing(set(firsts))
    changed = _changed_since(job, {cid: first for cid, first in firsts.items() if cid in alive})
    plan = RevertPlan(gone=len(firsts) - len(alive) + len(merged), conflict_count=len(changed))
    plan.delete = sum(1 for cid in created if cid in alive)
    plan.restore = sum(1 for cid in restore if cid in alive)
    emails = dict(
        Contact.objects.filter(pk__in=list(changed)[:50]).values_list("pk", "email")
    )  # fmt: skip
    plan.conflicts = [
        {"contact_id": cid, "email": emails.get(cid, ""), "by": who}
        for cid, who in list(changed.items())[:50]
    ]
    return plan


def request_revert(
    *, actor: Actor, job: ImportJob, confirm_conflicts: bool = False, leave_changed: bool = False
) -> RevertPlan:
    """Check a revert can go ahead and queue it.

    Contacts someone else changed since the import need a choice: ``confirm_conflicts``
    reverts them too (their later changes are lost), ``leave_changed`` leaves them as they are
    and reverts the rest. With neither, the revert is refused when there are any.
    """
    if confirm_conflicts and leave_changed:
        raise ValueError("confirm_conflicts and leave_changed exclude each other")
    if job.is_reverting:
        raise _already_reverting()
    if not job.can_revert:
        raise SwitchboardError(
            "import_not_revertable",
            "Only a finished, cancelled or failed import that wrote contacts can be reverted.",
        )
    plan = revert_preview(job)
    if plan.conflict_count and not (confirm_conflicts or leave_changed):
        raise SwitchboardError(
            "changed_since_import",
            f"{plan.conflict_count} contact(s) were changed by someone else after this import. "
            "Choose to revert everything (their later changes to those contacts are lost) or "
            "to revert only the contacts nobody changed since (those stay as they are).",
            conflicts=plan.conflict_count,
        )
    # One revert at a time: a second click, or a second tab, is refused rather than queued.
    claimed = ImportJob.objects.filter(
        pk=job.pk, status__in=REVERTIBLE_STATUSES, revert_requested_at__isnull=True
    ).update(revert_requested_at=timezone.now())
    if not claimed:
        raise _already_reverting()
    from contacts.imports.tasks import revert_import_task

    # Unconfirmed, the revert skips whatever was changed since, by the time it runs too.
    transaction.on_commit(
        lambda: revert_import_task.enqueue(job.pk, actor.user_id, confirm_conflicts)
    )
    return plan


REVERT_STOPPED = "The revert stopped"


def _already_reverting() -> SwitchboardError:
    return SwitchboardError("import_reverting", "This import is already being reverted.")


def revert_import(*, actor: Actor, job: ImportJob, confirm_conflicts: bool = False) -> RevertPlan:
    """Delete the contacts the import created and restore the values it changed.

    Contacts changed since by someone else are left alone unless ``confirm_conflicts``.
    Runs in chunks (one transaction each) so a large import reverts without a huge transaction.
    A revert that fails says so on the job and can be asked for again.
    """
    try:
        return _revert(actor=actor, job=job, confirm_conflicts=confirm_conflicts)
    except Exception as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            revert_requested_at=None, error=f"{REVERT_STOPPED}: {exc}"[:500]
        )
        raise


def _revert(*, actor: Actor, job: ImportJob, confirm_conflicts: bool) -> RevertPlan:
    created, restore, merged = _revert_targets(job)
    firsts = {**created, **{cid: before["_first"] for cid, before in restore.items()}}
    changed = _changed_since(job, firsts)
    plan = RevertPlan(conflict_count=len(changed), gone=len(merged))
    skip = set() if confirm_conflicts else set(changed)
    # Of those, the ones still there are left as they are; the others were deleted since.
    left = _existing(skip)
    plan.left_changed = len(left)
    plan.gone += len(skip) - len(left)
    to_delete = [cid for cid in created if cid not in skip]
    for chunk in chunks(to_delete, 1000):
        with transaction.atomic():
            contacts = list(Contact.objects.filter(pk__in=chunk).only("id", "email"))
            AuditEntry.objects.bulk_create(
                [
                    audit.build_entry(
                        actor=actor,
                        action="contact.delete",
                        obj=c,
                        contact_id=c.pk,
                        changes={"email": [c.email, None], "reverted_import": [None, job.pk]},
                    )
                    for c in contacts
                ]
            )
            plan.delete += (
                Contact.objects.filter(pk__in=[c.pk for c in contacts])
                .delete()[1]
                .get("contacts.Contact", 0)
            )
    field_names = field_names_now(
        {k.removeprefix("field:") for b in restore.values() for k in b if k.startswith("field:")}
    )
    for contact_id, before in restore.items():
        if contact_id in skip:
            continue
        try:
            _restore_contact(
                actor=actor, contact_id=contact_id, before=before, field_names=field_names
            )
        except SwitchboardError as exc:
            if exc.code != "unknown_contact":
                raise
            plan.gone += 1
        else:
            plan.restore += 1
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.REVERTED,
            reverted_at=timezone.now(),
            reverted_contacts=plan.delete + plan.restore,
            revert_left_changed=plan.left_changed,
        )
        # An earlier attempt's failure no longer holds.
        ImportJob.objects.filter(pk=job.pk, error__startswith=REVERT_STOPPED).update(error="")
        audit.record(
            actor=actor,
            action="import.revert",
            obj=job,
            changes={
                "deleted": [None, plan.delete],
                "restored": [None, plan.restore],
                "left_changed": [None, plan.left_changed],
            },
        )
        # Which contacts it left, in each one's own trail (so erasure scrubs it with the rest).
        # Written with the job's outcome: a revert asked for again after a failure records
        # them once.
        AuditEntry.objects.bulk_create(
            (
                audit.build_entry(
                    actor=actor,
                    action="import.revert_left",
                    obj=job,
                    contact_id=contact_id,
                    changes={
                        "reverted_import": [None, job.pk],
                        "changed_since_by": [None, changed[contact_id]],
                    },
                )
                for contact_id in sorted(left)
            ),
            batch_size=1000,
        )
    return plan


def _existing(contact_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these contacts that still exist."""
    alive: set[uuid.UUID] = set()
    for chunk in chunks(list(contact_ids)):
        alive.update(Contact.objects.filter(pk__in=chunk).values_list("pk", flat=True))
    return alive


@transaction.atomic
def _restore_contact(
    *, actor: Actor, contact_id: uuid.UUID, before: dict[str, Any], field_names: dict[str, str]
) -> None:
    contact = contact_service.get_contact(contact_id)
    attrs: dict[str, Any] = {}
    for key in ("first_name", "last_name"):
        if key in before:
            attrs[key] = before[key] or ""
    if "phone" in before:
        attrs["phone"] = before["phone"] or ""
    if "metadata" in before:
        old = before["metadata"] or {}
        attrs["metadata"] = {k: old.get(k) for k in {*old, *contact.metadata}}
    fields = {
        field_names[name]: v
        for k, v in before.items()
        if k.startswith("field:") and (name := k.removeprefix("field:")) in field_names
    }
    if fields:
        attrs["fields"] = fields
    if attrs:
        contact_service.update_contact(actor=actor, contact=contact, **attrs)
    # Older imports recorded the names lower-cased: match them without case.
    for tag in Tag.objects.named_any(before.get("tags", [])):
        tag_service.untag_contact(actor=actor, contact=contact, tag=tag)
    for contact_list in ContactList.objects.filter(pk__in=before.get("lists", [])):
        list_service.remove_from_list(actor=actor, contact=contact, contact_list=contact_list)
