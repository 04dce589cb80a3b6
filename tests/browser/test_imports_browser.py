"""A staff member uploads a CSV, maps its columns, watches the import finish and gets the report."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import OperationalError, connection
from playwright.sync_api import expect

from contacts.imports.models import ImportJob
from contacts.models import Contact
from contacts.services import imports

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 120
CSV = "Work email;Given name;Mobile\n" + "".join(
    f"lead{i}@example.com;Lead {i};+44 7400 {100000 + i}\n" for i in range(ROWS)
) + "broken-address;Nobody;\n"  # fmt: skip


class Worker(threading.Thread):
    """Stands in for `manage.py db_worker`: runs queued imports, here in the test process."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.wait(0.3):
                try:
                    queued = list(
                        ImportJob.objects.filter(status="queued").values_list("pk", flat=True)
                    )
                except OperationalError:
                    # The test database is SQLite in memory, shared between threads: a table
                    # the live server is writing to answers "locked" at once, with no busy
                    # wait as a file database has. Look again on the next tick.
                    continue
                for job_id in queued:
                    imports.run_import(job_id)
        finally:
            connection.close()


@pytest.fixture
def worker(settings):
    settings.IMPORT_BATCH_SIZE = 10  # several batches, so the bar moves while the page polls
    thread = Worker()
    thread.start()
    yield thread
    thread.stopping.set()
    thread.join(timeout=30)


def test_upload_map_watch_progress_and_download_the_error_report(staff_page, worker, tmp_path):
    page = staff_page
    page.goto("/imports/")
    page.set_input_files(
        "#id_file", files=[{"name": "fair.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    page.get_by_role("button", name="Upload").click()

    # The mapping page: a preview, columns matched by name; "Work email" is not a known name.
    expect(page.get_by_role("heading", name="Map columns")).to_be_visible()
    expect(page.get_by_test_id("preview")).to_contain_text("lead0@example.com")
    expect(page.locator("#id_col_1")).to_have_value("first_name")
    expect(page.locator("#id_col_2")).to_have_value("phone")
    page.select_option("#id_col_0", "email")
    page.fill("#id_tags", "fair")
    page.get_by_role("button", name="Start import").click()

    # The job page polls until the bar is full.
    expect(page).to_have_url(re.compile(r"/imports/\d+/$"))
    expect(page.get_by_test_id("percent")).to_have_text("100%", timeout=60_000)
    expect(page.get_by_test_id("progress")).to_have_attribute("value", "100")
    expect(page.get_by_test_id("status")).to_contain_text("Done")
    expect(page.get_by_test_id("imported")).to_have_text(str(ROWS))
    expect(page.get_by_test_id("invalid")).to_have_text("1")

    with page.expect_download() as download_info:
        page.get_by_test_id("error-report").click()
    report = tmp_path / "report.csv"
    download_info.value.save_as(report)
    lines = report.read_text().splitlines()
    assert lines[0] == "row,column,outcome,code,reason"
    assert lines[1].startswith(f"{ROWS + 2},Work email,invalid,invalid_email,")

    assert Contact.objects.filter(tags__name="fair").count() == ROWS
