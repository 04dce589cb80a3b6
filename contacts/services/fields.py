"""Custom field definitions and typed values."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from contacts.models import Contact, Field, FieldType, FieldValue
from contacts.segments.references import follow_rename
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError

FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_ \-]{0,63}$")
TEXT_MAX = 2000
# PostgreSQL indexes a text value whole (fieldvalue_text) and refuses an index entry over 2704
# bytes: 2000 characters of Cyrillic, Greek or CJK text (2 to 3 bytes each in UTF-8) exceed it.
TEXT_MAX_BYTES = 2600
_NUMBER_LIMIT = decimal.Decimal("1e14")
# Commas are taken as thousands separators only where they group digits in threes.
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _clean_field_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not FIELD_NAME.match(name):
        raise SwitchboardError(
            "invalid_field_name",
            "A field name starts with a letter and holds up to 64 letters, digits, spaces, _ or -.",
            field="name",
        )
    return name


def get_field_by_name(name: str) -> Field:
    field = Field.objects.named((name or "").strip()).first()
    if field is None:
        raise SwitchboardError(
            "unknown_field", f"There is no custom field named “{name}”.", field=name
        )
    return field


@transaction.atomic
def create_field(*, actor: Actor, name: str, type: str) -> Field:
    name = _clean_field_name(name)
    if type not in FieldType.values:
        raise SwitchboardError(
            "invalid_field_type",
            f"“{type}” is not a field type; use one of {', '.join(FieldType.values)}.",
            field="type",
        )
    if Field.objects.named(name).exists():
        raise SwitchboardError(
            "duplicate_field", f"A field named “{name}” already exists.", field="name"
        )
    try:
        with transaction.atomic():
            field = Field.objects.create(name=name, type=type)
    except IntegrityError:
        raise SwitchboardError(
            "duplicate_field", f"A field named “{name}” already exists.", field="name"
        ) from None
    audit.record(
        actor=actor,
        action="field.create",
        obj=field,
        changes={"name": [None, name], "type": [None, type]},
    )
    return field


@transaction.atomic
def rename_field(*, actor: Actor, field: Field, name: str) -> Field:
    name = _clean_field_name(name)
    if Field.objects.exclude(pk=field.pk).named(name).exists():
        raise SwitchboardError(
            "duplicate_field", f"A field named “{name}” already exists.", field="name"
        )
    if name == field.name:  # saved unchanged: nothing to record or follow
        return field
    before = field.name
    field.name = name
    field.save(update_fields=["name"])
    audit.record(actor=actor, action="field.rename", obj=field, changes={"name": [before, name]})
    follow_rename(actor=actor, kind="field", obj=field, old=before)
    return field


@transaction.atomic
def delete_field(*, actor: Actor, field: Field) -> None:
    count = field.values.count()
    audit.record(
        actor=actor,
        action="field.delete",
        obj=field,
        changes={"name": [field.name, None], "values": [count, 0]},
    )
    field.delete()


def parse_value(field: Field, raw: Any) -> Any:
    """The typed Python value for ``raw`` (None clears the value) or ``invalid_field_value``."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None

    def bad(expected: str) -> SwitchboardError:
        return SwitchboardError(
            "invalid_field_value",
            f"“{field.name}” expects {expected}; got “{raw}”.",
            field=field.name,
        )

    match field.type:
        case FieldType.TEXT:
            text = str(raw).strip()
            if len(text) > TEXT_MAX:
                raise SwitchboardError(
                    "invalid_field_value",
                    f"“{field.name}” holds at most {TEXT_MAX} characters.",
                    field=field.name,
                )
            if len(text) * 4 > TEXT_MAX_BYTES and len(text.encode()) > TEXT_MAX_BYTES:
                raise SwitchboardError(
                    "invalid_field_value",
                    f"“{field.name}” holds at most {TEXT_MAX} characters, and fewer outside "
                    f"the Latin alphabet: {TEXT_MAX_BYTES:,} bytes of UTF-8 (this text has "
                    f"{len(text.encode()):,}).",
                    field=field.name,
                )
            return text
        case FieldType.NUMBER:
            if isinstance(raw, bool):
                raise bad("a number")
            text = str(raw).strip()
            if "," in text and not _GROUPED.fullmatch(text):
                # "1,5" is one and a half in much of Europe: never read it as 15.
                raise bad("a number with a point for decimals (1.5 or 1,250.5)")
            try:
                number = decimal.Decimal(text.replace(",", ""))
            except decimal.InvalidOperation:
                raise bad("a number") from None
            if not number.is_finite() or abs(number) >= _NUMBER_LIMIT:
                raise bad("a finite number below 10^14")
            # Checked again once rounded to the stored six decimals: 99999999999999.9999999
            # rounds up to 10^14, which the column cannot hold (PostgreSQL refuses the write;
            # SQLite stores it and then cannot read the contact back).
            number = number.quantize(decimal.Decimal("0.000001"))
            if abs(number) >= _NUMBER_LIMIT:
                raise bad("a finite number below 10^14")
            return number
        case FieldType.DATE:
            if isinstance(raw, dt.datetime):
                return raw.date()
            if isinstance(raw, dt.date):
                return raw
            try:
                return dt.date.fromisoformat(str(raw).strip())
            except ValueError:
                raise bad("a date as YYYY-MM-DD") from None
        case FieldType.BOOLEAN:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise bad("true or false")
    raise AssertionError(f"unhandled field type {field.type}")


def resolve_values(values: Mapping[str, Any]) -> dict[Field, Any]:
    """Validate ``{field name: raw value}`` into ``{Field: typed value}`` before anything is written."""
    resolved: dict[Field, Any] = {}
    if not values:
        return resolved
    # Few field definitions exist; one query for all of them beats one per name.
    by_name = {field.name.lower(): field for field in Field.objects.all()}
    for name, raw in values.items():
        field = by_name.get(str(name).strip().lower())
        if field is None:
            raise SwitchboardError(
                "unknown_field", f"There is no custom field named “{name}”.", field=name
            )
        resolved[field] = parse_value(field, raw)
    return resolved


def current_values(contact: Contact) -> dict[str, Any]:
    return {fv.field.name: fv.value for fv in contact.field_values.select_related("field")}


def apply_values(contact: Contact, resolved: dict[Field, Any]) -> dict[str, list[Any]]:
    """Write validated values; return the audit diff ``{"field:Name": [before, after]}``."""
    changes: dict[str, list[Any]] = {}
    if not resolved:
        return changes
    existing = {
        fv.field_id: fv
        for fv in FieldValue.objects.filter(contact=contact, field__in=list(resolved))
    }
    for field, value in resolved.items():
        column = field.value_column
        row = existing.get(field.pk)
        before = getattr(row, column) if row else None
        if before == value:
            continue
        if value is None:
            row.delete()
        elif row is None:
            FieldValue.objects.create(contact=contact, field=field, **{column: value})
        else:
            setattr(row, column, value)
            row.save(update_fields=[column])
        changes[f"field:{field.name}"] = [audit.jsonable(before), audit.jsonable(value)]
    return changes
