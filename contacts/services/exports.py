"""CSV export of a list, a tag or a segment, streamed row by row.

A custom field's column is headed with its name, or ``field:<name>`` where the name alone
would read as another column ("email", "Mobile", "First name"): the importer maps either back
to the field, so an exported file re-imports with its custom fields.

Cells are made safe for spreadsheets: a value starting with ``= + - @``, a tab or a carriage
return would be run as a formula by Excel, LibreOffice or Sheets, so it is prefixed with ``'``
(OWASP's advice for CSV injection). Phone numbers therefore read ``'+447700900123``; a plain
negative number (``-5``) is left as it is.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from contacts.imports.mapping import field_headers
from contacts.models import Contact, ContactList, Field, FieldValue, Segment, Tag
from contacts.services.segments import segment_members
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000
COLUMNS = [
    "id", "email", "phone", "phone_country", "first_name", "last_name", "email_consent",
    "sms_consent", "unsubscribed_at", "created_at", "updated_at", "tags",
]  # fmt: skip
EXPORT_KINDS = ("list", "tag", "segment")


# A negative number ("-5", "-12.50") is read as that number by every spreadsheet, never run:
# prefixed, it became the text '-5, which sorts and sums as text and a re-import of the file
# refuses ("expects a number"). Phones keep the prefix: unprefixed, "+44…" reads as a number.
NEGATIVE_NUMBER = re.compile(r"-\d+(\.\d+)?")


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if NEGATIVE_NUMBER.fullmatch(text):
        return text
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a stream."""

    def write(self, value: str) -> str:
        return value


@dataclass
class Export:
    source: ContactList | Tag | Segment
    contacts: QuerySet[Contact]
    filename: str
    rows: Iterator[str]


def _source(kind: str, source_id: int) -> tuple[ContactList | Tag | Segment, QuerySet[Contact]]:
    match kind:
        case "list":
            obj = ContactList.objects.filter(pk=source_id).first()
            members = Contact.objects.filter(list_memberships__list_id=source_id) if obj else None
        case "tag":
            obj = Tag.objects.filter(pk=source_id).first()
            members = Contact.objects.filter(contact_tags__tag_id=source_id) if obj else None
        case "segment":
            obj = Segment.objects.filter(pk=source_id).first()
            members = segment_members(obj) if obj else None
        case _:
            raise SwitchboardError(
                "invalid_export", f"Export a list, a tag or a segment, not “{kind}”."
            )
    if obj is None or members is None:
        raise SwitchboardError("unknown_export_source", f"There is no {kind} with id {source_id}.")
    return obj, members


def export_contacts(*, actor: Actor, kind: str, source_id: int) -> Export:
    """Validate and audit an export, and return its CSV lines as a lazy iterator."""
    source, members = _source(kind, source_id)
    if not members.exists():
        raise SwitchboardError(
            "empty_export",
            f"The {kind} “{source}” has no contacts right now, so there is nothing to export.",
        )
    audit.record(actor=actor, action="contacts.export", obj=source, changes={"kind": [None, kind]})
    fields = list(Field.objects.all())
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    slug = "".join(ch if ch.isalnum() else "-" for ch in str(source).lower())[:40].strip("-")
    return Export(
        source=source,
        contacts=members,
        filename=f"{kind}-{slug or source.pk}-{stamp}.csv",
        rows=_rows(members, fields),
    )


def _rows(members: QuerySet[Contact], fields: list[Field]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The byte order mark tells Excel the file is UTF-8; without it "Siobhán" opens as
    # "SiobhÃ¡n". LibreOffice, Sheets and Python's utf-8-sig read it as the marker it is.
    yield "\ufeff" + writer.writerow([*COLUMNS, *field_headers(fields, beside=COLUMNS)])
    contacts = (
        members.order_by("pk")
        .prefetch_related("tags", Prefetch("field_values", queryset=FieldValue.objects.all()))
        .iterator(chunk_size=CHUNK)
    )
    by_id = {f.pk: f for f in fields}
    for contact in contacts:
        values = {}
        for fv in contact.field_values.all():
            if fv.field_id not in by_id:
                continue  # a field created while the file streams has no column in it
            fv.field = by_id[fv.field_id]  # already loaded: no query per value
            values[fv.field_id] = fv.display_value
        row = [
            contact.pk, contact.email, contact.phone, contact.phone_country, contact.first_name,
            contact.last_name, contact.email_consent, contact.sms_consent,
            contact.unsubscribed_at.isoformat() if contact.unsubscribed_at else "",
            contact.created_at.isoformat(), contact.updated_at.isoformat(),
            ", ".join(sorted(tag.name for tag in contact.tags.all())),
            *(values.get(f.pk, "") for f in fields),
        ]  # fmt: skip
        yield writer.writerow([safe_cell(cell) for cell in row])
