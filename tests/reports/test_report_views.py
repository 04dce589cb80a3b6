from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from dashboard.reports.queries import REPORTS
from sms.models import Message

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("key", list(REPORTS))
def test_every_report_page_renders_its_chart_and_tables(staff_client, key):
    response = staff_client.get(f"/reports/{key}/?days=30&grouping=week")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and "Download CSV" in page


def test_changing_the_period_returns_just_the_report_body(htmx_client):
    response = htmx_client.get("/reports/sms/?days=7&grouping=day")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<svg" in body and "<html" not in body


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("days=&start=2026-11-20&end=2026-11-01", "The start date is after the end date."),
        ("days=&start=2020-01-01&end=2026-11-01", "A report covers at most"),
        ("days=&start=2026-11-01", "Choose a preset period, or both a start and an end date."),
    ],
)
def test_a_bad_period_is_explained(staff_client, query, message):
    response = staff_client.get(f"/reports/sms/?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_bad_period_chosen_on_the_page_replaces_the_figures_with_the_error(htmx_client):
    # htmx swaps only 2xx answers: the error must come back as one, or the old figures stay.
    response = htmx_client.get("/reports/sms/?days=&start=2026-11-20&end=2026-11-01")
    assert response.status_code == 200
    body = response.content.decode()
    assert "The start date is after the end date." in body and "<svg" not in body


def test_the_report_says_which_dates_its_figures_cover(htmx_client):
    # Dates typed while a preset is still chosen do not apply: the body says what does.
    response = htmx_client.get("/reports/sms/?days=7&start=2026-01-01&end=2026-01-31")
    today = timezone.localdate()
    start = today - dt.timedelta(days=6)
    assert (
        f'data-testid="period">{start:%-d %b %Y} – {today:%-d %b %Y} · by day</p>'
        in response.content.decode()
    )


def test_an_unknown_report_is_a_404(staff_client):
    assert staff_client.get("/reports/nope/").status_code == 404


def test_each_table_downloads_as_csv_safe_for_spreadsheets(staff_client):
    Message.objects.create(
        idempotency_key="k1", to="+447700900001", country="GB", text="x", kind="transactional", encoding="GSM-7",
        segments=1, price=1, status="failed", gateway="sandbox", actor_kind="staff", actor_label="sam",
        error_code="=HYPERLINK(1)",
    )  # fmt: skip
    response = staff_client.get("/reports/delivery/table-1.csv?days=7")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    # Marked as UTF-8 for Excel.
    assert response.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["Country", "Gateway", "Error code", "Messages"]
    # A value a spreadsheet would run as a formula is written as text.
    assert table[1] == ["GB", "sandbox", "'=HYPERLINK(1)", "1"]
    assert staff_client.get("/reports/delivery/table-9.csv?days=7").status_code == 404


@pytest.mark.parametrize(
    "query",
    ["days=&start=9999-12-30&end=9999-12-31", "days=&start=0001-01-01&end=0001-01-05"],
)
def test_dates_out_of_range_are_explained_not_a_server_error(staff_client, query):
    for url in ("/reports/sms/", "/reports/sms/table-0.csv"):
        response = staff_client.get(f"{url}?{query}")
        assert response.status_code == 400
        assert "Choose dates from 1 Jan 2000 to" in response.content.decode()


def test_a_csv_download_with_a_bad_field_says_what_is_wrong(staff_client):
    response = staff_client.get("/reports/sms/table-0.csv?days=&start=2026-13-01&end=2026-11-01")
    assert response.status_code == 400
    assert "Enter a valid date." in response.content.decode()
    response = staff_client.get("/reports/sms/table-0.csv?days=7&grouping=year")
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
