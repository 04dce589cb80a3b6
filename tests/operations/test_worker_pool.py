"""Several workers share one PostgreSQL queue: every job runs, once, spread across them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from django.db import connection
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from dashboard.models import AuditEntry, WorkerHeartbeat
from tests.operations.pool_tasks import record_run

JOBS = 60


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="several workers share a queue on PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_share_the_queue_without_running_a_job_twice(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    for n in range(JOBS):
        record_run.enqueue(f"job-{n}")

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
    }
    env["TASKS_BACKEND"] = "django_tasks_db.DatabaseBackend"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "worker",
                "--interval",
                "0.1",
                "--no-startup-delay",
                "--worker-id",
                f"w{i}",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for i in (1, 2)
    ]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).count() == JOBS:
                break
            assert all(w.poll() is None for w in workers), "a worker died"
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)

    assert DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).count() == JOBS
    runs = Counter(AuditEntry.objects.filter(action="pool.run").values_list("object_id", flat=True))
    assert len(runs) == JOBS and set(runs.values()) == {1}, "every job ran exactly once"
    by_worker = Counter(r.worker_ids[-1] for r in DBTaskResult.objects.all())
    assert set(by_worker) == {"w1", "w2"} and min(by_worker.values()) >= 5, by_worker
    # Both reported a heartbeat, and said goodbye on SIGTERM.
    assert set(
        WorkerHeartbeat.objects.filter(stopped_at__isnull=False).values_list("worker_id", flat=True)
    ) == {
        "w1",
        "w2",
    }
