"""CSV exports of a list, a tag or a segment: complete, streamed, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from contacts.imports.mapping import squash
from contacts.models import Contact, ContactList, Field, Tag
from contacts.services import imports
from contacts.services.exports import COLUMNS, export_contacts, safe_cell
from contacts.services.segments import create_segment
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.parametrize(
    "value, cell",
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+447400123456", "'+447400123456"),
        ("-2+3", "'-2+3"),
        ("-5", "-5"),
        ("-12.50", "-12.50"),
        ("-5e3", "'-5e3"),
        ("- 5", "'- 5"),
        ("-5\n=1+1", "'-5\n=1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Ann", "Ann"),
        (None, ""),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_defused(value, cell):
    assert safe_cell(value) == cell


@pytest.fixture
def people(make_contact):
    Field.objects.create(name="company", type="text")
    newsletter = ContactList.objects.create(name="Newsletter")
    make_contact(
        email="ann@acme.com", first_name="=1+1", phone="+447400123456", tags=["VIP", "Beta"],
        list_ids=[newsletter.pk], fields={"company": "@Acme"},
    )  # fmt: skip
    make_contact(email="bob@acme.com", first_name="Bob", tags=["VIP"])
    make_contact(email="cat@other.org", list_ids=[newsletter.pk])
    return newsletter


def test_a_tag_export_has_every_tagged_contact_with_fields_and_tags(staff_client, people):
    vip = Tag.objects.get(name="VIP")
    response = staff_client.get(reverse("contacts:export", args=["tag", vip.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = rows_of(response)
    assert sorted(r["email"] for r in rows) == ["ann@acme.com", "bob@acme.com"]
    ann = next(r for r in rows if r["email"] == "ann@acme.com")
    assert (ann["first_name"], ann["phone"], ann["company"], ann["tags"]) == (
        "'=1+1",
        "'+447400123456",
        "'@Acme",
        "Beta, VIP",
    )


def test_a_field_created_while_an_export_streams_does_not_break_the_file(staff_actor, make_contact):
    from contacts.services.contacts import update_contact
    from contacts.services.fields import create_field

    everyone = ContactList.objects.create(name="Everyone")
    ann = make_contact(email="ann@example.com", list_ids=[everyone.pk])
    export = export_contacts(actor=staff_actor, kind="list", source_id=everyone.pk)
    header = next(export.rows)  # the columns are fixed now; the rows are read later
    create_field(actor=staff_actor, name="Late", type="text")
    update_contact(actor=staff_actor, contact=ann, fields={"Late": "x"})

    rows = list(export.rows)

    assert "Late" not in header
    assert len(rows) == 1 and "ann@example.com" in rows[0]


def test_a_list_export(staff_client, people):
    rows = rows_of(staff_client.get(reverse("contacts:export", args=["list", people.pk])))
    assert sorted(r["email"] for r in rows) == ["ann@acme.com", "cat@other.org"]


def test_a_segment_export_uses_the_rules_as_they_match_now(staff_client, staff_actor, people):
    segment = create_segment(
        actor=staff_actor,
        name="Acme",
        rules={"all": [{"field": "email_domain", "op": "equals", "value": "acme.com"}]},
    )
    rows = rows_of(staff_client.get(reverse("contacts:export", args=["segment", segment.pk])))
    assert sorted(r["email"] for r in rows) == ["ann@acme.com", "bob@acme.com"]
    assert AuditEntry.objects.filter(action="contacts.export", object_id=str(segment.pk)).exists()


def test_the_export_streams_with_a_bounded_number_of_queries(
    staff_client, people, make_contact, django_assert_max_num_queries
):
    for i in range(30):
        make_contact(
            email=f"more{i}@acme.com", list_ids=[people.pk], tags=["VIP"], fields={"company": "X"}
        )
    with django_assert_max_num_queries(14):
        rows = rows_of(staff_client.get(reverse("contacts:export", args=["list", people.pk])))
    assert len(rows) == 32


def test_exporting_an_empty_segment_says_there_is_nothing_to_export(
    staff_client, staff_actor, people
):
    segment = create_segment(actor=staff_actor, name="Nobody", rules={"any": []})
    response = staff_client.get(
        reverse("contacts:export", args=["segment", segment.pk]), follow=True
    )
    assert "nothing to export" in response.content.decode()
    with pytest.raises(SwitchboardError) as caught:
        export_contacts(actor=staff_actor, kind="segment", source_id=segment.pk)
    assert caught.value.code == "empty_export"


@pytest.mark.parametrize(
    "kind, source_id, code",
    [("list", 999, "unknown_export_source"), ("people", 1, "invalid_export")],
)
def test_unknown_sources_are_refused(staff_actor, kind, source_id, code):
    with pytest.raises(SwitchboardError) as caught:
        export_contacts(actor=staff_actor, kind=kind, source_id=source_id)
    assert caught.value.code == code


def test_an_export_opens_in_excel_with_its_accents_intact(staff_client, make_contact):
    make_contact(email="siobhan@example.ie", first_name="Siobhán", tags=["Irish"])
    tag = Tag.objects.get(name="Irish")

    body = b"".join(
        staff_client.get(reverse("contacts:export", args=["tag", tag.pk])).streaming_content
    )

    # Excel reads a CSV as the local code page unless it starts with the UTF-8 byte order mark.
    assert body.startswith(b"\xef\xbb\xbfid,email,")
    assert body.count(b"\xef\xbb\xbf") == 1
    assert "Siobhán" in body.decode("utf-8-sig")


@pytest.fixture
def look_alike_fields(make_contact):
    """Custom fields named like built-in columns (or their synonyms), and one that is not."""
    for name, kind in (
        ("Email", "text"), ("First name", "text"), ("Mobile", "text"), ("ID", "number"),
        ("Created at", "date"), ("company", "text"),
    ):  # fmt: skip
        Field.objects.create(name=name, type=kind)
    make_contact(
        email="ann@acme.com", first_name="Ann", tags=["VIP"],
        fields={
            "Email": "ann.private@example.org", "First name": "Annie", "Mobile": "work phone",
            "ID": "4711", "Created at": "2020-05-17", "company": "Acme",
        },
    )  # fmt: skip
    return Tag.objects.get(name="VIP")


def export_body(client, tag: Tag) -> bytes:
    response = client.get(reverse("contacts:export", args=["tag", tag.pk]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_a_custom_field_named_like_a_column_gets_a_header_of_its_own(
    staff_client, look_alike_fields
):
    body = export_body(staff_client, look_alike_fields)
    header = next(csv.reader(io.StringIO(body.decode("utf-8-sig"))))

    assert header[: len(COLUMNS)] == COLUMNS
    # The importer compares headers without case or punctuation: none may read as another.
    assert len({squash(h) for h in header}) == len(header)
    assert sorted(header[len(COLUMNS) :]) == sorted(
        [
            "field:Email",
            "field:First name",
            "field:Mobile",
            "field:ID",
            "field:Created at",
            "company",
        ]
    )
    ann = rows_of_bytes(body)[0]
    assert (ann["email"], ann["field:Email"], ann["first_name"], ann["field:First name"]) == (
        "ann@acme.com",
        "ann.private@example.org",
        "Ann",
        "Annie",
    )
    assert (ann["field:ID"], ann["field:Created at"], ann["company"]) == (
        "4711",
        "2020-05-17",
        "Acme",
    )


def rows_of_bytes(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_a_negative_number_field_exports_as_a_number_not_as_text(staff_client, make_contact):
    Field.objects.create(name="balance", type="number")
    make_contact(email="ann@acme.com", tags=["VIP"], fields={"balance": "-12.5"})
    tag = Tag.objects.get(name="VIP")

    rows = rows_of(staff_client.get(reverse("contacts:export", args=["tag", tag.pk])))

    assert rows[0]["balance"] == "-12.5"


def test_an_exported_file_imports_back_with_its_custom_fields(
    staff_client, staff_actor, look_alike_fields, settings, tmp_path
):
    settings.IMPORT_DIR = tmp_path / "imports"
    body = export_body(staff_client, look_alike_fields)
    header = next(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    Contact.objects.all().delete()  # as if importing into an empty account with these fields

    job = imports.upload_import(
        actor=staff_actor, file=io.BytesIO(body), file_name="export.csv", size=len(body)
    )

    # Suggested without anyone choosing: built-in columns to their targets, every custom
    # field column to its field, and the built-in "id" to nothing (not to the field "ID").
    by_header = {header[int(index)]: target for index, target in job.mapping.items()}
    assert by_header == {
        "email": "email", "phone": "phone", "first_name": "first_name",
        "last_name": "last_name", "tags": "tags",
        "field:Email": "field:Email", "field:First name": "field:First name",
        "field:Mobile": "field:Mobile", "field:ID": "field:ID",
        "field:Created at": "field:Created at", "company": "field:company",
    }  # fmt: skip
    imports.configure_import(actor=staff_actor, job=job, mapping=job.mapping, enqueue=False)
    job = imports.run_import(job.pk)

    assert (job.status, job.imported, job.invalid) == ("done", 1, 0)
    ann = Contact.objects.get(email="ann@acme.com")
    assert ann.first_name == "Ann"
    assert {fv.field.name: fv.display_value for fv in ann.field_values.select_related("field")} == {
        "Email": "ann.private@example.org", "First name": "Annie", "Mobile": "work phone",
        "ID": "4711", "Created at": "2020-05-17", "company": "Acme",
    }  # fmt: skip


def test_the_apostrophe_an_export_puts_before_a_formula_sign_is_not_imported_back(
    staff_client, staff_actor, make_contact, settings, tmp_path
):
    settings.IMPORT_DIR = tmp_path / "imports"
    ann = make_contact(email="-ann@acme.com", first_name="Ann", last_name="+Plus", tags=["VIP"])
    body = export_body(staff_client, Tag.objects.get(name="VIP"))
    assert "'-ann@acme.com" in body.decode("utf-8-sig")  # defused for spreadsheets

    job = imports.upload_import(
        actor=staff_actor, file=io.BytesIO(body), file_name="export.csv", size=len(body)
    )
    imports.configure_import(actor=staff_actor, job=job, mapping=job.mapping, enqueue=False)
    job = imports.run_import(job.pk)

    # The file updates Ann, rather than adding "'-ann@acme.com" as somebody new.
    assert job.imported == 0
    assert list(Contact.objects.values_list("pk", "email")) == [(ann.pk, "-ann@acme.com")]
    assert Contact.objects.get().last_name == "+Plus"
    # A value that still reads as a formula once unescaped is reported and left out, as ever.
    assert ("last_name", "formula_value") in job.issues.values_list("column", "code")


def test_a_list_named_in_another_script_downloads_under_its_name(staff_client, make_contact):
    tokyo = ContactList.objects.create(name="Clients 東京")
    make_contact(email="ann@acme.com", list_ids=[tokyo.pk])

    response = staff_client.get(reverse("contacts:export", args=["list", tokyo.pk]))

    # Not a MIME-encoded header no browser reads as "attachment" at all.
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename*=utf-8''list-clients-%E6%9D%B1%E4%BA%AC-")
    assert disposition.endswith(".csv")
