"""CSV exports of a list, a tag or a segment: complete, streamed, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from contacts.models import ContactList, Field, Tag
from contacts.services.exports import export_contacts, safe_cell
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
