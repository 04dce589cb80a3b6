"""Background work for SMS. Tasks take ids or plain values and call a service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django_tasks import task
from django_tasks.base import Task

from sms.gateways.base import StatusReport
from sms.services import messages


def enqueue_at(job: Task, when: dt.datetime, *args: Any) -> None:
    """Run ``job`` at ``when``; at once on a backend that cannot defer (the immediate one)."""
    if job.get_backend().supports_defer:
        job.using(run_after=when).enqueue(*args)
    else:
        job.enqueue(*args)


@task()
def deliver_messages() -> dict:
    """Send every due message, concurrently. Each queued send enqueues one; whichever worker
    runs first sends them all and the others find nothing left to claim."""
    stats = messages.send_due_messages()
    return {"claimed": stats.claimed, "sent": stats.sent, "failed": stats.failed}


@task()
def apply_simulated_reports(reports: list[list[str]]) -> None:
    """The sandbox's delivery reports, a moment after "sending": [gateway, id, status, error]."""
    for gateway, provider_id, status, error_code in reports:
        messages.record_status_report(
            gateway=gateway, report=StatusReport(provider_id, status, error_code), source="sandbox"
        )
