"""A task for the worker-pool test: it records every run so doubles would show."""

from __future__ import annotations

import os
import time

from django_tasks import task

from dashboard.models import AuditEntry


@task()
def record_run(key: str) -> None:
    time.sleep(0.05)  # long enough that both workers get a share
    AuditEntry.objects.create(
        actor_kind="system",
        actor_label=f"pid {os.getpid()}",
        action="pool.run",
        object_type="job",
        object_id=key,
    )
