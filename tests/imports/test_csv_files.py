"""Uploads in every encoding and delimiter people send, and the files that are refused."""

from __future__ import annotations

import io

import pytest

from contacts.imports.models import ImportJob
from contacts.models import Contact
from contacts.services import imports
from dashboard.errors import SwitchboardError

pytestmark = pytest.mark.django_db

ROWS = "email,first name,last name\njose@example.com,José,Ñúñez\nzoe@example.com,Zoë,Brontë\n"


def names() -> set[tuple[str, str, str]]:
    return set(Contact.objects.values_list("email", "first_name", "last_name"))


EXPECTED = {("jose@example.com", "José", "Ñúñez"), ("zoe@example.com", "Zoë", "Brontë")}


@pytest.mark.parametrize(
    "encoding, data",
    [
        ("utf-8", ROWS.encode("utf-8")),
        ("utf-8", b"\xef\xbb\xbf" + ROWS.encode("utf-8")),
        ("utf-16", ROWS.encode("utf-16")),  # with its BOM
        ("utf-16", ROWS.encode("utf-16-le")),  # without
        ("cp1252", ROWS.encode("cp1252")),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "utf16le-no-bom", "windows-1252"],
)
def test_it_reads_every_common_encoding(run, encoding, data):
    job = run(data)
    assert job.encoding == encoding
    assert job.status == "done"
    assert job.headers == ["email", "first name", "last name"]
    assert names() == EXPECTED


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_it_reads_utf16_without_a_bom_whose_text_is_mostly_not_latin(run, encoding):
    # Refused as "binary data": the NUL bytes of the ASCII it holds (emails, commas) were too
    # few for the byte-order test among Cyrillic names.
    rows = "email,имя,фамилия\n" + "".join(
        f"u{i}@example.com,Александра,Константинопольская\n" for i in range(3)
    )
    job = run(rows.encode(encoding), mapping={"0": "email", "1": "first_name"})
    assert (job.status, job.encoding, job.imported) == ("done", "utf-16", 3)
    assert job.headers == ["email", "имя", "фамилия"]
    assert Contact.objects.filter(first_name="Александра").count() == 3


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_it_detects_the_delimiter(run, delimiter):
    job = run(ROWS.replace(",", delimiter))
    assert job.delimiter == delimiter
    assert names() == EXPECTED


def test_it_follows_excels_sep_line(run):
    job = run(("sep=;\r\n" + ROWS.replace(",", ";").replace("\n", "\r\n")).encode("cp1252"))
    assert (job.delimiter, job.headers) == (";", ["email", "first name", "last name"])
    assert names() == EXPECTED


def test_it_reads_lines_ended_by_a_carriage_return_alone(run):
    # Excel for Mac's "CSV (Macintosh)".
    job = run(ROWS.replace("\n", "\r").encode("cp1252"))
    assert (job.status, job.imported, job.headers) == (
        "done",
        2,
        ["email", "first name", "last name"],
    )
    assert names() == EXPECTED


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_it_reads_rows_ended_by_a_carriage_return_among_other_line_endings(run, eol):
    # Rows pasted in from a "CSV (Macintosh)" file: the whole import failed as unreadable.
    head, jose, zoe = ROWS.splitlines()
    job = run((head + eol + jose + "\r" + zoe + eol + "ann@example.com,Ann,Lee" + eol).encode())
    assert (job.status, job.error, job.imported, job.invalid) == ("done", "", 3, 0)
    assert names() == EXPECTED | {("ann@example.com", "Ann", "Lee")}


def test_the_report_numbers_rows_as_a_spreadsheet_shows_them_blank_lines_included(run):
    # Blank lines were skipped uncounted: every row after one was reported a row too early,
    # so the report pointed at someone else's row in the spreadsheet.
    job = run("email\nann@example.com\n\n\nnot-an-email\nbob@example.com\n   \nworse\n")
    assert (job.rows_done, job.imported, job.invalid) == (4, 2, 2)
    assert list(job.issues.values_list("row", "code")) == [
        (5, "invalid_email"),
        (8, "invalid_email"),
    ]


BIG = "x" * (1024 * 1024 + 10)


@pytest.mark.parametrize(
    "notes",
    [BIG, f'"{BIG}"', f'"line one\n{BIG}\nsays ""hi"", ok"'],
    ids=["plain", "quoted", "quoted-over-lines"],
)
def test_a_value_over_the_size_limit_is_one_invalid_row_and_the_rest_imports(run, notes):
    job = run(
        "email,notes,first name\nann@example.com,short,Ann\n"
        f"bob@example.com,{notes},Bob\ncid@example.com,,Cid\n"
    )
    assert (job.status, job.error) == ("done", "")
    assert (job.rows_done, job.imported, job.invalid) == (3, 2, 1)
    issue = job.issues.get()
    assert (issue.row, issue.column, issue.code, issue.outcome) == (
        3, "notes", "value_too_large", "invalid",
    )  # fmt: skip
    assert "“notes” value is larger than the 1 MB a value can hold" in issue.reason
    assert sorted(Contact.objects.values_list("first_name", flat=True)) == ["Ann", "Cid"]


def test_a_quote_never_closed_past_the_size_limit_is_reported_on_its_row(run):
    rest = "".join(f"p{i}@example.com,note {i},P\n" for i in range(60_000))  # > 1 MB
    job = run(
        f'email,notes,first name\nann@example.com,short,Ann\nbob@example.com,"oops,Bob\n{rest}'
    )
    assert (job.status, job.imported, job.invalid) == ("done", 1, 1)
    issue = job.issues.get()
    assert (issue.row, issue.column, issue.code) == (3, "notes", "value_too_large")
    assert issue.reason.startswith('A quote (") in this row is never closed')


def test_it_reads_quoted_fields_with_newlines_and_delimiters(run, custom_fields):
    job = run(
        'email,Company,first name\n"ann@example.com","Acme, Inc.\nLondon office",Ann\n'
        "bob@example.com,Bobco,Bob\n"
    )
    assert job.imported == 2 and job.invalid == 0
    ann = Contact.objects.get(email="ann@example.com")
    assert ann.field_values.get().value_text == "Acme, Inc.\nLondon office"
    # Row numbers count records, as a spreadsheet shows them, not physical lines.
    assert Contact.objects.filter(email="bob@example.com", first_name="Bob").exists()


def test_a_latin1_file_that_looks_like_utf8_at_first_is_still_read(run, settings):
    settings.IMPORT_BATCH_SIZE = 5000
    head = "email,first name\n" + "".join(f"p{i}@example.com,Plain\n" for i in range(7000))
    data = (head + "late@example.com,Renée\n").encode("cp1252")
    job = run(data)
    assert job.encoding == "cp1252"
    assert Contact.objects.get(email="late@example.com").first_name == "Renée"


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf8", "utf8-bom"])
@pytest.mark.parametrize("late", [False, True], ids=["in-sample", "after-sample"])
def test_windows_1252_rows_among_utf8_ones_leave_the_utf8_text_intact(run, settings, bom, late):
    settings.IMPORT_BATCH_SIZE = 5000
    filler = "".join(f"p{i}@example.com,Plain,\n" for i in range(7000)) if late else ""
    data = bom + (ROWS + filler).encode("utf-8") + "late@example.com,Renée,\n".encode("cp1252")
    job = run(data)
    assert (job.encoding, job.headers) == ("utf-8", ["email", "first name", "last name"])
    assert names() > EXPECTED
    assert Contact.objects.get(email="late@example.com").first_name == "Renée"


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", "empty_file"),
        (b"\xef\xbb\xbf\r\n", "empty_file"),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "binary_file"),
        (bytes(range(256)) * 4, "binary_file"),
        (b" , , \nann@example.com,x,y\n", "no_header"),
        (b"email,first name\n", "no_data_rows"),
        (b"\xef\xbb\xbfemail;first name\r\n\r\n  \r\n", "no_data_rows"),
    ],
    ids=[
        "empty",
        "only-bom",
        "xlsx-renamed",
        "random-bytes",
        "blank-header",
        "header-only",
        "header-and-blank-lines",
    ],  # fmt: skip
)
def test_it_refuses_files_that_are_not_csv_with_a_clear_reason(start, data, code):
    with pytest.raises(SwitchboardError) as error:
        start(data)
    assert error.value.code == code
    assert error.value.message
    assert not ImportJob.objects.exists()


def test_it_refuses_a_file_above_the_size_limit_before_reading_it(start, settings, system_actor):
    settings.IMPORT_MAX_BYTES = 1000

    class Unreadable(io.BytesIO):
        def read(self, *args):
            raise AssertionError("read a file that was already known to be too large")

    with pytest.raises(SwitchboardError) as error:
        imports.start_import(
            actor=system_actor, file=Unreadable(), file_name="huge.csv", size=2 * 1024**3
        )
    assert error.value.code == "file_too_large"


def test_it_stops_reading_a_stream_that_turns_out_too_large(start, settings, system_actor):
    settings.IMPORT_MAX_BYTES = 5000
    data = ("email\n" + "x@example.com\n" * 2000).encode()
    with pytest.raises(SwitchboardError) as error:
        imports.start_import(
            actor=system_actor, file=io.BytesIO(data), file_name="big.csv", size=None
        )
    assert error.value.code == "file_too_large"
    assert list(settings.IMPORT_DIR.glob("*")) == []


def test_it_refuses_a_mapping_without_an_email_column(start):
    with pytest.raises(SwitchboardError) as error:
        start("name,phone\nAnn,+447911123456\n")
    assert error.value.code == "no_email_column"
    assert not ImportJob.objects.exists()
