from __future__ import annotations

import pytest
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from dashboard.models import AuditEntry

pytestmark = pytest.mark.django_db


@task()
def flaky(value: int) -> int:
    raise RuntimeError(f"boom {value}")


@pytest.fixture
def failed_job(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    result = flaky.enqueue(7)
    DBTaskResult.objects.filter(pk=result.id).update(
        status=TaskResultStatus.FAILED,
        exception_class_path="builtins.RuntimeError",
        traceback="boom 7",
    )
    return DBTaskResult.objects.get(pk=result.id)


def test_staff_see_counts_workers_and_failures(staff_client, failed_job):
    response = staff_client.get("/operations/queue/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "test_queue_page.flaky" in page
    assert "No worker has reported" in page


def test_the_page_refreshes_itself_as_a_partial(htmx_client, failed_job):
    response = htmx_client.get("/operations/queue/")
    assert response.status_code == 200
    assert "<html" not in response.content.decode()


def test_an_admin_can_retry_a_failed_job_with_the_same_arguments(admin_client, failed_job):
    response = admin_client.post(f"/operations/queue/{failed_job.pk}/retry/")
    assert response.status_code == 302
    retried = DBTaskResult.objects.exclude(pk=failed_job.pk).get()
    assert retried.status == TaskResultStatus.READY
    assert retried.args_kwargs == {"args": [7], "kwargs": {}}
    assert AuditEntry.objects.filter(action="task.retry", object_id=str(failed_job.pk)).exists()


def test_staff_who_are_not_admins_cannot_retry(staff_client, failed_job):
    assert staff_client.post(f"/operations/queue/{failed_job.pk}/retry/").status_code == 403
    assert DBTaskResult.objects.count() == 1


def test_retrying_an_unknown_or_unfailed_job_says_why(admin_client, failed_job):
    response = admin_client.post("/operations/queue/not-a-uuid/retry/", follow=True)
    assert "There is no background job not-a-uuid." in response.content.decode()
    DBTaskResult.objects.filter(pk=failed_job.pk).update(status=TaskResultStatus.SUCCESSFUL)
    response = admin_client.post(f"/operations/queue/{failed_job.pk}/retry/", follow=True)
    assert "Only failed jobs can be retried." in response.content.decode()
