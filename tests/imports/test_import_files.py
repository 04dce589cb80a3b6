"""Stored upload files hold every row's personal data: each goes once nothing can use it."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.utils import timezone

from contacts.imports.models import ImportJob
from contacts.services import imports

pytestmark = pytest.mark.django_db
DATA = "email\n" + "".join(f"p{i}@example.com\n" for i in range(5))


def test_a_finished_import_deletes_its_file_and_keeps_its_report(run):
    job = run(DATA + "not-an-email\n")
    assert job.status == "done" and not Path(job.file_path).exists()
    assert [row[0] for row in imports.error_report_rows(job)][1:] == [7]  # row 7, the bad one
    dry = run(DATA, dry_run=True)
    assert not Path(dry.file_path).exists()


def test_a_cancelled_import_keeps_its_file_for_a_resume_until_the_retention_ends(
    start, staff_actor, settings
):
    settings.IMPORT_FILE_RETENTION_DAYS = 7
    job = imports.cancel_import(actor=staff_actor, job=start(DATA))
    path = Path(job.file_path)
    assert imports.prune_import_files() == 0 and path.exists()

    later = timezone.now() + dt.timedelta(days=7, minutes=1)
    assert imports.prune_import_files(now=later) == 1 and not path.exists()
    with pytest.raises(imports.SwitchboardError) as refused:
        imports.resume_import(actor=staff_actor, job=ImportJob.objects.get(pk=job.pk))
    assert refused.value.code == "import_file_gone"
    assert "Upload it again" in refused.value.message
    assert ImportJob.objects.get(pk=job.pk).status == "cancelled"


def test_an_upload_never_mapped_goes_with_its_draft_after_a_day(staff_actor, settings):
    settings.IMPORT_DRAFT_RETENTION_HOURS = 24
    data = DATA.encode()
    draft = imports.upload_import(
        actor=staff_actor, file=io.BytesIO(data), file_name="leads.csv", size=len(data)
    )
    assert draft.status == "draft"
    assert imports.prune_import_files(now=timezone.now() + dt.timedelta(hours=23)) == 0
    assert imports.prune_import_files(now=timezone.now() + dt.timedelta(hours=25)) == 1
    assert not ImportJob.objects.filter(pk=draft.pk).exists()
    assert not Path(draft.file_path).exists()


def test_a_running_or_queued_import_keeps_its_file(start, settings):
    job = start(DATA)
    far = timezone.now() + dt.timedelta(days=365)
    assert imports.prune_import_files(now=far) == 0
    assert Path(job.file_path).exists()
