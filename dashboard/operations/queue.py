"""The background job queue as staff see it: counts, failures, retry."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError

# Records deleted per statement when pruning, so a backlog never holds SQLite's write lock long.
PRUNE_BATCH = 1000


@dataclass
class QueueSummary:
    ready: int
    running: int
    failed: int
    succeeded_24h: int
    oldest_ready_at: dt.datetime | None


def summary() -> QueueSummary:
    counts = dict(
        DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    since = timezone.now() - dt.timedelta(hours=24)
    oldest = (
        DBTaskResult.objects.filter(status=TaskResultStatus.READY, run_after__lte=timezone.now())
        .order_by("enqueued_at")
        .values_list("enqueued_at", flat=True)
        .first()
    )
    return QueueSummary(
        ready=counts.get(TaskResultStatus.READY, 0),
        running=counts.get(TaskResultStatus.RUNNING, 0),
        failed=counts.get(TaskResultStatus.FAILED, 0),
        succeeded_24h=DBTaskResult.objects.filter(
            status=TaskResultStatus.SUCCESSFUL, finished_at__gte=since
        ).count(),
        oldest_ready_at=oldest,
    )


def retry_failed(*, actor: Actor, task_result_id: str) -> str:
    """Enqueue a failed task again with the same arguments; returns the new task id."""
    try:
        failed = DBTaskResult.objects.get(pk=uuid.UUID(str(task_result_id)))
    except (DBTaskResult.DoesNotExist, ValueError):
        raise SwitchboardError(
            "unknown_task", f"There is no background job {task_result_id}."
        ) from None
    if failed.status != TaskResultStatus.FAILED:
        raise SwitchboardError("task_not_failed", "Only failed jobs can be retried.")
    task = failed.task.using(run_after=None)
    result = task.enqueue(*failed.args_kwargs["args"], **failed.args_kwargs["kwargs"])
    audit.record(
        actor=actor, action="task.retry", obj=failed, changes={"retried_as": [None, str(result.id)]}
    )
    return str(result.id)


def prune_finished(*, now: dt.datetime | None = None) -> int:
    """Delete the records of finished jobs past their retention; returns how many went.

    Every SMS send and campaign heartbeat leaves one, so unpruned the table grows with all
    traffic. Successful jobs go after ``TASK_RESULT_RETENTION_DAYS``; failed ones are kept for
    ``TASK_FAILED_RETENTION_DAYS``, since staff retry them from the queue page. Waiting and
    running jobs are never touched. Safe to run from several workers at once.
    """
    now = now or timezone.now()
    succeeded_before = now - dt.timedelta(days=settings.TASK_RESULT_RETENTION_DAYS)
    failed_before = now - dt.timedelta(days=settings.TASK_FAILED_RETENTION_DAYS)
    old = DBTaskResult.objects.filter(
        Q(status=TaskResultStatus.SUCCESSFUL, finished_at__lt=succeeded_before)
        | Q(status=TaskResultStatus.FAILED, finished_at__lt=failed_before)
    )
    deleted = 0
    while ids := list(old.values_list("pk", flat=True)[:PRUNE_BATCH]):
        deleted += DBTaskResult.objects.filter(pk__in=ids).delete()[0]
    return deleted
