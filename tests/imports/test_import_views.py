"""The import pages through the test client: list, upload, mapping, job page, actions."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from contacts.imports import runner, uploads
from contacts.imports.models import ImportJob
from contacts.imports.tasks import revert_import_task
from contacts.models import Contact
from contacts.services import imports

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, name: str = "leads.csv"):
    return client.post(reverse("imports:upload"), {"file": SimpleUploadedFile(name, data)})


def test_the_list_shows_who_started_each_import_and_its_counts(
    staff_client, run, django_assert_max_num_queries
):
    for _ in range(3):
        run("email\nann@example.com\nbad\n")
    with django_assert_max_num_queries(8):
        response = staff_client.get(reverse("imports:list"))
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("leads.csv") == 3
    assert "sam" in page and "staff" in page


def test_older_imports_are_a_page_away_not_cut_off(staff_client, htmx_client, start, monkeypatch):
    from contacts.imports import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    jobs = [start(f"email\np{i}@example.com\n", file_name=f"file{i}.csv") for i in range(5)]
    first = staff_client.get(reverse("imports:list")).content.decode()
    assert "file4.csv" in first and "file3.csv" in first and "file2.csv" not in first
    assert "Next →" in first and "← Previous" not in first
    last = htmx_client.get(reverse("imports:list"), {"page": 3}).content.decode()
    assert "<html" not in last and "file0.csv" in last and "Next →" not in last
    assert f'href="{reverse("imports:detail", args=[jobs[0].pk])}"' in last
    beyond = staff_client.get(reverse("imports:list"), {"page": 9}).content.decode()
    assert "No more imports on page 9" in beyond
    assert staff_client.get(reverse("imports:list"), {"page": "x"}).status_code == 200


def test_uploading_a_file_leads_to_the_mapping_page_with_columns_matched(staff_client):
    response = upload(staff_client, b"E-mail;Given name;Mobile\nann@example.com;Ann;07400 123456\n")
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("imports:mapping", args=[job.pk])
    assert job.status == "draft" and job.actor_label == "sam"

    page = staff_client.get(response.url)
    assert page.status_code == 200
    form = page.context["form"]
    assert [form[f"col_{i}"].initial for i in range(3)] == ["email", "first_name", "phone"]
    assert "ann@example.com" in page.content.decode()  # the preview


def test_a_binary_file_is_refused_with_a_clear_message(staff_client):
    response = upload(staff_client, b"PK\x03\x04" + bytes(300), name="leads.xlsx.csv")
    assert response.status_code == 422
    assert "ZIP archive" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_file_with_a_header_but_no_rows_is_refused_at_upload(staff_client):
    response = upload(staff_client, b"email,first name\n")
    assert response.status_code == 422
    assert "This file has a header row but no data rows" in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.fixture
def browser(staff_user) -> Client:
    """A staff client that checks CSRF as a browser's requests are checked."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    client.get(reverse("imports:list"))  # sets the CSRF cookie
    return client


def browser_upload(client: Client, data: bytes):
    token = client.cookies["csrftoken"].value
    return client.post(
        reverse("imports:upload"),
        {"csrfmiddlewaretoken": token, "file": SimpleUploadedFile("leads.csv", data)},
    )


def test_an_upload_from_the_page_is_accepted(browser):
    response = browser_upload(browser, b"email\nann@example.com\n")
    assert response.status_code == 302
    assert ImportJob.objects.get().file_name == "leads.csv"


def test_an_oversized_upload_is_refused_from_its_declared_size_unread(browser, settings, body_read):
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    response = browser_upload(browser, b"email\n" + b"someone@example.com\n" * 110_000)
    assert response.status_code == 413
    assert "larger than the 1 MB an import accepts" in response.content.decode()
    assert sum(body_read) == 0
    assert not ImportJob.objects.exists()


def test_an_upload_larger_than_its_declared_size_said_stops_being_read_at_the_limit(
    browser, settings, body_read, monkeypatch
):
    # As if the declared length had let it through: the file is read only up to the limit.
    monkeypatch.setattr(uploads, "ENVELOPE", 64 * 1024 * 1024)
    settings.IMPORT_MAX_BYTES = 100 * 1024
    data = b"email\n" + b"someone@example.com\n" * 100_000  # 2 MB
    response = browser_upload(browser, data)
    assert response.status_code == 413
    assert "larger than" in response.content.decode()
    assert sum(body_read) < 300 * 1024
    assert not ImportJob.objects.exists()


def test_an_upload_within_the_limit_still_needs_the_csrf_token(browser):
    response = upload(browser, b"email\nann@example.com\n")
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_confirming_the_mapping_queues_the_job(staff_client, django_capture_on_commit_callbacks):
    upload(staff_client, b"Work,Name\nann@example.com,Ann\n")
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(
            reverse("imports:mapping", args=[job.pk]),
            {"col_0": "email", "col_1": "first_name", "mode": "create", "default_region": "fr",
             "tags": "fair, 2026"},
        )  # fmt: skip
    assert response.status_code == 302
    assert response.url == reverse("imports:detail", args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.mode, job.default_region) == ("queued", "create", "FR")
    assert job.tag_names == ["fair", "2026"]
    assert len(callbacks) == 1  # the run task


def test_a_file_with_more_columns_than_djangos_form_limit_can_be_mapped(browser, settings):
    # The page's form sends one choice per column: 1,500 columns were more fields than Django
    # takes in one form (DATA_UPLOAD_MAX_NUMBER_FIELDS), answered with a bare 400.
    width = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 500
    header = ",".join(["email", *(f"c{i}" for i in range(1, width))])
    row = ",".join(["ann@example.com", *("x" for _ in range(1, width))])
    assert browser_upload(browser, f"{header}\n{row}\n".encode()).status_code == 302
    job = ImportJob.objects.get()
    url = reverse("imports:mapping", args=[job.pk])
    assert browser.get(url).status_code == 200
    form = {f"col_{i}": "" for i in range(width)}
    form.update(
        col_0="email", col_1="first_name", mode="upsert", default_region="GB",
        csrfmiddlewaretoken=browser.cookies["csrftoken"].value,
    )  # fmt: skip
    response = browser.post(url, urlencode(form), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.mapping) == ("queued", {"0": "email", "1": "first_name"})


def test_the_wide_mapping_form_still_needs_the_csrf_token(browser):
    assert browser_upload(browser, b"email,name\nann@example.com,Ann\n").status_code == 302
    job = ImportJob.objects.get()
    form = {"col_0": "email", "mode": "upsert", "default_region": "GB"}
    response = browser.post(
        reverse("imports:mapping", args=[job.pk]),
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == "draft"


def test_a_column_with_an_accented_name_can_be_kept_as_metadata(staff_client):
    upload(staff_client, "Courriel;Société;Größe\nann@example.com;Acme;XL\n".encode())
    job = ImportJob.objects.get()
    url = reverse("imports:mapping", args=[job.pk])
    form = staff_client.get(url).context["form"]
    choices = [dict(form[f"col_{i}"].field.choices) for i in (1, 2)]
    assert "meta:societe" in choices[0] and "meta:grosse" in choices[1]
    response = staff_client.post(
        url,
        {"col_0": "email", "col_1": "meta:societe", "col_2": "meta:grosse", "mode": "upsert",
         "default_region": "FR"},
    )  # fmt: skip
    assert response.status_code == 302, response.context["form"].errors
    job.refresh_from_db()
    assert job.mapping == {"0": "email", "1": "meta:societe", "2": "meta:grosse"}


def test_a_mapping_without_email_is_refused_next_to_the_mapping(staff_client):
    upload(staff_client, b"Work,Name\nann@example.com,Ann\n")
    job = ImportJob.objects.get()
    response = staff_client.post(
        reverse("imports:mapping", args=[job.pk]),
        {"col_0": "", "col_1": "first_name", "mode": "upsert", "default_region": "GB"},
    )
    assert response.status_code == 422
    assert "Map one column to Email" in response.content.decode()
    assert ImportJob.objects.get().status == "draft"


def test_every_problem_with_the_mapping_and_options_is_shown_at_once(staff_client):
    upload(staff_client, b"Work,Name\nann@example.com,Ann\n")
    job = ImportJob.objects.get()
    response = staff_client.post(
        reverse("imports:mapping", args=[job.pk]),
        {"col_0": "", "col_1": "first_name", "mode": "upsert", "default_region": "ZZ",
         "webhook_url": "ftp://example.com/hook"},
    )  # fmt: skip
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert errors["default_region"] == ["“ZZ” is not a country code such as GB, FR or US."]
    assert errors["webhook_url"] == ["“ftp://example.com/hook” is not an http(s) URL."]
    assert errors["__all__"] == [
        "Map one column to Email: contacts are matched and created by email address."
    ]
    page = response.content.decode()
    assert "is not a country code" in page and "is not an http(s) URL" in page
    assert "Map one column to Email" in page
    assert ImportJob.objects.get().status == "draft"


def test_a_webhook_into_the_private_network_is_refused_next_to_its_field(staff_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    upload(staff_client, b"Email\nann@example.com\n")
    job = ImportJob.objects.get()
    response = staff_client.post(
        reverse("imports:mapping", args=[job.pk]),
        {"col_0": "email", "mode": "upsert", "default_region": "GB",
         "webhook_url": "http://169.254.169.254/latest/meta-data/"},
    )  # fmt: skip
    assert response.status_code == 422
    [message] = response.context["form"].errors["webhook_url"]
    assert message.startswith("“http://169.254.169.254/latest/meta-data/” leads to 169.254.169.254")
    assert ImportJob.objects.get().status == "draft"


def test_each_problem_with_the_mapping_is_shown_on_its_own(staff_client):
    upload(staff_client, b"Work,Name,Nick\nann@example.com,Ann,Annie\n")
    job = ImportJob.objects.get()
    response = staff_client.post(
        reverse("imports:mapping", args=[job.pk]),
        {"col_0": "", "col_1": "first_name", "col_2": "first_name", "mode": "upsert",
         "default_region": "GB"},
    )  # fmt: skip
    assert response.status_code == 422
    assert response.context["form"].errors["__all__"] == [
        "Columns “Name” and “Nick” both map to first_name; pick one.",
        "Map one column to Email: contacts are matched and created by email address.",
    ]
    assert ImportJob.objects.get().status == "draft"


def test_a_job_whose_file_has_no_rows_left_says_so_on_its_page(staff_client, start):
    job = start("email\nann@example.com\n")
    Path(job.file_path).write_text("email\n")  # e.g. queued before such files were refused
    imports.run_import(job.pk)
    page = staff_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "This file has a header row but no data rows, so nothing was imported." in page


def test_the_job_page_polls_while_running_and_stops_when_done(staff_client, htmx_client, start):
    job = start("email\nann@example.com\n")
    page = htmx_client.get(reverse("imports:detail", args=[job.pk]))
    assert page.status_code == 200
    assert 'hx-trigger="every 1s"' in page.content.decode()
    assert "<html" not in page.content.decode()  # only the progress partial

    imports.run_import(job.pk)
    page = htmx_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' not in page
    assert 'value="100"' in page and "Download error report" in page


class Stop(BaseException):
    """The worker stops between batches (not an Exception: nothing catches it)."""


def test_the_bar_moves_with_the_rows_written_before_the_row_count_is_known(
    htmx_client, start, monkeypatch
):
    job = start("email\n" + "".join(f"p{i}@example.com\n" for i in range(10, 30)))
    read_batch, calls = runner.read_batch, []

    def five_batches(*args, **kwargs):
        calls.append(1)
        if len(calls) > 5:  # 10 of the 20 rows (of equal length) written
            raise Stop
        return read_batch(*args, **kwargs)

    monkeypatch.setattr(runner, "read_batch", five_batches)
    with pytest.raises(Stop):
        imports.run_import(job.pk)
    page = htmx_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert 'data-testid="percent">50%' in page and 'value="50"' in page


def test_the_error_report_downloads_as_csv(staff_client, run):
    job = run("email,phone\nann@example.com,\nnot-an-email,\nbob@example.com,123\n")
    response = staff_client.get(reverse("imports:errors", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "row,column,outcome,code,reason"
    assert lines[1].startswith("3,email,invalid,invalid_email,")
    assert lines[2].startswith("4,phone,invalid,invalid_phone,")


def test_the_error_report_does_not_carry_formulas_from_the_file(staff_client, run):
    job = run(
        'email,"=HYPERLINK(""http://x"",""y"")"\nann@example.com,=1+1\n',
        mapping={"0": "email", "1": "first_name"},
    )
    response = staff_client.get(reverse("imports:errors", args=[job.pk]))
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[1].startswith('2,"\'=HYPERLINK(""http://x"",""y"")",warning,formula_value,')


def test_staff_can_cancel_a_queued_import_from_the_list(staff_client, start):
    job = start("email\nann@example.com\n")
    response = staff_client.post(reverse("imports:cancel", args=[job.pk]), {"next": "list"})
    assert response.status_code == 302 and response.url == reverse("imports:list")
    assert ImportJob.objects.get().status == "cancelled"


def test_resuming_a_cancelled_import_queues_it_again(staff_client, start, staff_actor):
    job = imports.cancel_import(actor=staff_actor, job=start("email\nann@example.com\n"))
    response = staff_client.post(reverse("imports:resume", args=[job.pk]))
    assert response.status_code == 302
    assert ImportJob.objects.get().status == "queued"


def test_the_revert_page_previews_and_asks_to_confirm_changed_contacts(
    staff_client, run, staff_actor, django_capture_on_commit_callbacks
):
    job = run("email,first name\nann@example.com,Ann\nbob@example.com,Bob\n")
    ann = Contact.objects.get(email="ann@example.com")
    imports.contact_service.update_contact(actor=staff_actor, contact=ann, first_name="Anna")
    url = reverse("imports:revert", args=[job.pk])

    preview = staff_client.get(url)
    assert preview.status_code == 200
    assert preview.context["plan"].delete == 2
    assert "ann@example.com" in preview.content.decode()

    refused = staff_client.post(url)
    assert refused.status_code == 422
    assert "changed by someone else" in refused.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = staff_client.post(url, {"confirm": "yes"})
    assert confirmed.status_code == 302
    queued = DBTaskResult.objects.get(task_path__endswith="revert_import_task")
    assert queued.args_kwargs["args"] == [job.pk, staff_actor.user_id, True]

    revert_import_task.call(*queued.args_kwargs["args"])  # what the worker does
    assert ImportJob.objects.get().status == "reverted"
    assert not Contact.objects.exists()
    page = staff_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "Reverted 2 contacts." in page and "left as" not in page


def test_the_revert_page_offers_to_revert_everything_or_only_unchanged_contacts(
    staff_client, run, staff_actor
):
    job = run("email,first name\nann@example.com,Ann\nbob@example.com,Bob\n")
    ann = Contact.objects.get(email="ann@example.com")
    imports.contact_service.update_contact(actor=staff_actor, contact=ann, first_name="Anna")
    url = reverse("imports:revert", args=[job.pk])

    page = staff_client.get(url).content.decode()
    assert 'name="confirm" value="yes"' in page
    assert 'name="confirm" value="unchanged_only"' in page

    refused = staff_client.post(url).content.decode()  # neither button: the choice is asked for
    assert "revert everything" in refused and "revert only the contacts nobody changed" in refused
    assert "reverting later" not in refused


def test_reverting_only_unchanged_contacts_leaves_the_changed_ones_as_they_are(
    staff_client, run, staff_actor, django_capture_on_commit_callbacks
):
    job = run("email,first name\nann@example.com,Ann\nbob@example.com,Bob\n")
    ann = Contact.objects.get(email="ann@example.com")
    imports.contact_service.update_contact(actor=staff_actor, contact=ann, first_name="Anna")
    url = reverse("imports:revert", args=[job.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, {"confirm": "unchanged_only"}, follow=True)
    assert response.redirect_chain == [(reverse("imports:detail", args=[job.pk]), 302)]
    assert "the 1 contact(s) changed since are left as they are" in response.content.decode()
    queued = DBTaskResult.objects.get(task_path__endswith="revert_import_task")
    assert queued.args_kwargs["args"] == [job.pk, staff_actor.user_id, False]

    revert_import_task.call(*queued.args_kwargs["args"])  # what the worker does
    assert ImportJob.objects.get().status == "reverted"
    assert list(Contact.objects.values_list("email", "first_name")) == [("ann@example.com", "Anna")]

    # The job page says it was partial; the contact's own trail says why it was left.
    page = staff_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "Reverted 1 contact; 1 left as it was because it changed since the import." in page
    history = staff_client.get(reverse("contacts:history", args=[ann.pk])).content.decode()
    assert "left it as it was when reverting an import" in history
    assert "changed since by" in history


def test_a_queued_revert_shows_on_the_job_page_and_is_not_queued_twice(
    staff_client, htmx_client, run, django_capture_on_commit_callbacks, monkeypatch
):
    job = run("email\nann@example.com\n")
    url = reverse("imports:revert", args=[job.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(url).status_code == 302
        again = staff_client.post(url)  # a second click, or a second tab
    assert again.status_code == 422 and "already being reverted" in again.content.decode()
    assert DBTaskResult.objects.filter(task_path__endswith="revert_import_task").count() == 1

    page = htmx_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page and 'data-testid="reverting"' in page
    assert "Revert…" not in page and "Resume" not in page

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(imports, "_revert", broken)
    queued = DBTaskResult.objects.get(task_path__endswith="revert_import_task")
    with pytest.raises(RuntimeError):
        revert_import_task.call(*queued.args_kwargs["args"])
    page = htmx_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "The revert stopped: database went away" in page and "Revert…" in page
    assert 'hx-trigger="every 1s"' not in page

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(url).status_code == 302  # asked for again, it goes through
    for task in DBTaskResult.objects.filter(task_path__endswith="revert_import_task")[1:]:
        revert_import_task.call(*task.args_kwargs["args"])
    job.refresh_from_db()
    assert (job.status, job.error) == ("reverted", "")


def test_the_job_page_counts_the_contacts_a_revert_left_as_they_were(
    staff_client, run, staff_actor
):
    job = run("email,first name\nann@example.com,Ann\nbob@example.com,Bob\ncat@example.com,C\n")
    for contact in Contact.objects.exclude(email="cat@example.com"):
        imports.contact_service.update_contact(actor=staff_actor, contact=contact, first_name="X")
    imports.revert_import(actor=staff_actor, job=job)
    page = staff_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "Reverted 1 contact; 2 left as they were because they changed since the import." in page
