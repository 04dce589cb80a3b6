"""Finished job records are pruned after their retention, in batches, by the workers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from dashboard.operations import heartbeat, queue

pytestmark = pytest.mark.django_db


@task()
def chore(value: int) -> int:
    return value


@pytest.fixture(autouse=True)
def _database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    settings.TASK_RESULT_RETENTION_DAYS = 14
    settings.TASK_FAILED_RETENTION_DAYS = 30


def job(status: str, days_ago: float | None) -> str:
    result = chore.enqueue(1)
    finished = timezone.now() - dt.timedelta(days=days_ago) if days_ago is not None else None
    DBTaskResult.objects.filter(pk=result.id).update(status=status, finished_at=finished)
    return str(result.id)


def remaining() -> set[str]:
    return {str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)}


def test_only_finished_jobs_past_their_retention_go():
    old_success = job(TaskResultStatus.SUCCESSFUL, 15)
    recent_success = job(TaskResultStatus.SUCCESSFUL, 13)
    failed_kept_for_retry = job(TaskResultStatus.FAILED, 15)
    old_failure = job(TaskResultStatus.FAILED, 31)
    waiting = job(TaskResultStatus.READY, None)
    running = job(TaskResultStatus.RUNNING, None)

    assert queue.prune_finished() == 2

    assert remaining() == {recent_success, failed_kept_for_retry, waiting, running}
    assert old_success not in remaining() and old_failure not in remaining()


def test_a_backlog_is_deleted_a_batch_at_a_time(monkeypatch):
    monkeypatch.setattr(queue, "PRUNE_BATCH", 2)
    for _ in range(5):
        job(TaskResultStatus.SUCCESSFUL, 20)
    kept = job(TaskResultStatus.SUCCESSFUL, 1)

    assert queue.prune_finished() == 5
    assert remaining() == {kept}


def test_the_worker_heartbeat_prunes_at_start_and_then_hourly(monkeypatch):
    job(TaskResultStatus.SUCCESSFUL, 20)
    clock = [1000.0]
    monkeypatch.setattr(heartbeat.time, "monotonic", lambda: clock[0])
    # In its own thread it recycles its connection; here that would close the test's own.
    monkeypatch.setattr(heartbeat, "close_old_connections", lambda: None)
    thread = heartbeat.HeartbeatThread("w1")

    thread.tick()
    assert not remaining()

    job(TaskResultStatus.SUCCESSFUL, 20)
    clock[0] += heartbeat.PRUNE_EVERY - 1
    thread.tick()
    assert len(remaining()) == 1  # not due yet: only the heartbeat was written
    clock[0] += 1
    thread.tick()
    assert not remaining()
