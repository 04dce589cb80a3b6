"""Import jobs: one uploaded CSV file, its column mapping, its progress and what became of each row.

Writes go through ``contacts.services.imports``; these classes hold the data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.actors import ActorKind


class ImportMode(models.TextChoices):
    CREATE = "create", "Create new contacts only"
    UPDATE = "update", "Update existing contacts only"
    UPSERT = "upsert", "Create new and update existing"


class ImportStatus(models.TextChoices):
    DRAFT = "draft", "Waiting for mapping"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    REVERTED = "reverted", "Reverted"


ACTIVE_STATUSES = (ImportStatus.QUEUED, ImportStatus.RUNNING)
REVERTIBLE_STATUSES = (ImportStatus.DONE, ImportStatus.CANCELLED, ImportStatus.FAILED)


class ImportJob(models.Model):
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Who started it (a staff member or an agent), kept as plain values like the audit trail.
    actor_kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in ActorKind])
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_ref = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150)

    # The upload, re-encoded to UTF-8 (no BOM) on arrival so workers can seek by byte offset.
    file_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500)
    file_size = models.BigIntegerField(default=0)
    encoding = models.CharField(max_length=20)
    delimiter = models.CharField(max_length=1)
    headers = models.JSONField(default=list)
    # Byte offset where the first data row starts (after the header line).
    data_offset = models.BigIntegerField(default=0)

    # {"column index": "email" | "phone" | "first_name" | "last_name" | "tags" | "field:<name>"
    #  | "meta:<key>"}; unmapped columns are ignored.
    mapping = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=10, choices=ImportMode.choices, default=ImportMode.UPSERT)
    list_ids = models.JSONField(default=list, blank=True)
    tag_names = models.JSONField(default=list, blank=True)
    default_region = models.CharField(max_length=2, blank=True, default="")
    dry_run = models.BooleanField(default=False)
    webhook_url = models.URLField(max_length=500, blank=True, default="")

    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.DRAFT, db_index=True
    )
    cancel_requested = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True, default="")
    # The worker holding the job and until when; a crashed worker's lease runs out and the
    # next run takes over from ``offset``.
    worker = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    # Progress: committed in the same transaction as each batch's rows, so a resumed job
    # continues exactly after the last committed batch.
    offset = models.BigIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    batches_done = models.PositiveIntegerField(default=0)
    seconds_running = models.FloatField(default=0)
    imported = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    # Set when a revert is queued (at most one at a time), cleared if it fails.
    revert_requested_at = models.DateTimeField(null=True, blank=True)
    reverted_at = models.DateTimeField(null=True, blank=True)
    # What the revert did: contacts deleted or put back, and contacts left as they are because
    # someone changed them since (a revert of only the unchanged ones). None: not reverted, or
    # reverted before these were kept.
    reverted_contacts = models.PositiveIntegerField(null=True, blank=True)
    revert_left_changed = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import #{self.pk} {self.file_name}"

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        if self.total_rows:
            return min(99, self.rows_done * 100 // self.total_rows)
        # The row count is only known at the end: until then, how far into the file it is.
        data = self.file_size - self.data_offset
        if data <= 0:
            return 0
        return min(99, max(0, self.offset - self.data_offset) * 100 // data)

    @property
    def rows_per_second(self) -> float:
        return self.rows_done / self.seconds_running if self.seconds_running else 0.0

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_reverting(self) -> bool:
        return self.revert_requested_at is not None and self.status != ImportStatus.REVERTED

    @property
    def can_resume(self) -> bool:
        return (
            self.status in (ImportStatus.CANCELLED, ImportStatus.FAILED) and not self.is_reverting
        )

    @property
    def can_revert(self) -> bool:
        return (
            self.status in REVERTIBLE_STATUSES
            and not self.is_reverting
            and not self.dry_run
            and (self.imported or self.updated) > 0
        )


class ImportIssue(models.Model):
    """Why one row (or one value of it) was not imported as given: the error report."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="issues")
    row = models.PositiveIntegerField()  # line number as a spreadsheet shows it (header = 1)
    column = models.CharField(max_length=100, blank=True, default="")
    code = models.CharField(max_length=40)
    reason = models.CharField(max_length=300)
    # skipped / invalid rows are not imported; a warning is imported with a value dropped.
    outcome = models.CharField(max_length=10)

    class Meta:
        ordering = ["row", "id"]
        indexes = [models.Index(fields=["job", "row"], name="importissue_job_row")]


class SavedMapping(models.Model):
    """The mapping last used for a set of headers, offered again for the next such file."""

    header_key = models.CharField(max_length=64, unique=True)
    mapping = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)


class WebhookAttempt(models.Model):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="webhook_attempts")
    attempt = models.PositiveSmallIntegerField()  # within one ending (a resumed job ends again)
    # The status the callback reported ("cancelled", then "done" after a resume).
    reported = models.CharField(max_length=10, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    ok = models.BooleanField(default=False)

    class Meta:
        ordering = ["at", "id"]
