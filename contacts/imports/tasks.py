"""Background tasks for imports: each takes ids and calls the service."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django_tasks import task

from contacts.imports import webhooks
from contacts.imports.models import ImportJob
from contacts.services import imports
from dashboard.actors import Actor


@task()
def run_import_task(job_id: int) -> None:
    imports.run_import(job_id)


@task()
def deliver_import_webhook(job_id: int, attempt: int = 1) -> None:
    webhooks.deliver(job_id=job_id, attempt=attempt)


@task()
def revert_import_task(job_id: int, user_id: int | None, confirm_conflicts: bool) -> None:
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    actor = Actor.staff(user) if user else Actor.system("import revert")
    imports.revert_import(
        actor=actor, job=ImportJob.objects.get(pk=job_id), confirm_conflicts=confirm_conflicts
    )
