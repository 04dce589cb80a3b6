"""`manage.py import_contacts`: the same service from the command line."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from contacts.imports.models import ImportJob
from contacts.models import Contact

pytestmark = pytest.mark.django_db


def test_it_imports_a_file_in_place_with_the_given_mapping_and_tags(tmp_path):
    path = tmp_path / "fair.csv"
    path.write_text("Work;Name\nann@example.com;Ann\nnope;X\n", encoding="utf-8")
    out = io.StringIO()
    call_command(
        "import_contacts", str(path), "--map", "Work=email", "--map", "Name=first_name",
        "--tag", "fair", "--mode", "create", stdout=out,
    )  # fmt: skip
    assert "done: 2 rows" in out.getvalue() and "imported 1" in out.getvalue()
    ann = Contact.objects.get()
    assert (ann.first_name, list(ann.tags.values_list("name", flat=True))) == ("Ann", ["fair"])
    job = ImportJob.objects.get()
    assert (job.actor_kind, job.invalid) == ("system", 1)


def test_a_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email\nann@example.com\n")
    call_command("import_contacts", str(path), "--dry-run", stdout=io.StringIO())
    assert not Contact.objects.exists()
    assert ImportJob.objects.get().imported == 1


def test_it_explains_what_is_wrong(tmp_path):
    with pytest.raises(CommandError, match="is not a file"):
        call_command("import_contacts", str(tmp_path / "missing.csv"))
    path = tmp_path / "names.csv"
    path.write_text("name\nAnn\n")
    with pytest.raises(CommandError, match="Map one column to Email"):
        call_command("import_contacts", str(path))


def test_resuming_an_import_that_does_not_exist_does_not_import_the_file_instead(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email\nann@example.com\n")
    with pytest.raises(CommandError, match="There is no import #0."):
        call_command("import_contacts", str(path), "--resume", "0", stdout=io.StringIO())
    assert not ImportJob.objects.exists()


def test_a_file_with_a_header_but_no_rows_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("email,first name\n")
    with pytest.raises(CommandError, match="This file has a header row but no data rows"):
        call_command("import_contacts", str(path), stdout=io.StringIO())
    assert not ImportJob.objects.exists()


def test_a_header_the_file_has_twice_is_refused_as_on_the_dashboard_and_api(tmp_path):
    path = tmp_path / "phones.csv"
    path.write_text("Email,Phone,Phone\nann@example.com,07400123456,07400123457\n")
    with pytest.raises(CommandError) as error:
        call_command("import_contacts", str(path), "--map", "Email=email", "--map", "Phone=phone")
    assert str(error.value) == (
        "This file has 2 columns named “Phone”; name the one you mean by its index instead "
        "(1, 2, counting from 0)."
    )
    assert not ImportJob.objects.exists()
    # As the message says, the index picks one.
    call_command(
        "import_contacts", str(path), "--map", "Email=email", "--map", "2=phone",
        stdout=io.StringIO(),
    )  # fmt: skip
    assert Contact.objects.get().phone == "+447400123457"


def test_one_header_given_two_targets_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("Email,Name\nann@example.com,Ann\n")
    with pytest.raises(CommandError) as error:
        call_command(
            "import_contacts", str(path), "--map", "Email=email", "--map", "Email=first_name"
        )
    assert str(error.value) == "--map gives “Email” two targets (email, first_name); give it one."
    assert not ImportJob.objects.exists()


def test_it_names_every_problem_with_the_options_and_exits_with_an_error(tmp_path, capsys):
    path = tmp_path / "names.csv"
    path.write_text("Name,Rank\nAnn,1\n")
    args = [str(path), "--map", "Name=first_name", "--map", "Rank=field:Height"]
    with pytest.raises(CommandError) as error:
        call_command("import_contacts", *args, "--list", "424242", "--region", "ZZ")
    assert str(error.value).splitlines() == [
        "4 problems:",
        "- There is no custom field named “Height”.",
        "- Map one column to Email: contacts are matched and created by email address.",
        "- There is no list with id 424242.",
        "- “ZZ” is not a country code such as GB, FR or US.",
    ]
    assert error.value.returncode == 1
    assert not ImportJob.objects.exists()

    # Run as from a shell: each problem printed, and a failing exit status.
    from django.core.management import execute_from_command_line

    with pytest.raises(SystemExit) as exit_:
        execute_from_command_line(["manage.py", "import_contacts", *args, "--region", "ZZ"])
    assert exit_.value.code == 1
    printed = capsys.readouterr().err
    assert "There is no custom field named “Height”." in printed
    assert "“ZZ” is not a country code" in printed


def test_resume_runs_the_job_here_without_also_queueing_it(
    tmp_path, staff_actor, django_capture_on_commit_callbacks
):
    from contacts.services import imports

    data = b"email\nann@example.com\nbob@example.com\n"
    job = imports.start_import(
        actor=staff_actor, file=io.BytesIO(data), file_name="l.csv", size=len(data), enqueue=False
    )
    job = imports.cancel_import(actor=staff_actor, job=job)
    out = io.StringIO()
    with django_capture_on_commit_callbacks() as queued:
        call_command("import_contacts", "--resume", str(job.pk), stdout=out)
    assert "done: 2 rows" in out.getvalue() and Contact.objects.count() == 2
    assert not queued, "a task for the same job as well would only find it taken"
