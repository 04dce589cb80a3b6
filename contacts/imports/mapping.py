"""Column mapping: which CSV column feeds which contact attribute.

A mapping is ``{"<column index>": target}`` where target is ``email``, ``phone``,
``first_name``, ``last_name``, ``tags``, ``field:<custom field name>`` or ``meta:<key>``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from contacts.models import Field
from dashboard.errors import Problems, SwitchboardError
from dashboard.models import AuditEntry

STANDARD_TARGETS = {
    "email": "Email",
    "phone": "Phone",
    "first_name": "First name",
    "last_name": "Last name",
    "tags": "Tags (comma-separated)",
}
# Header names people use, compared without case, spaces or punctuation.
SYNONYMS = {
    "email": ["email", "e-mail", "e-mail address", "email address", "mail", "courriel"],
    "first_name": ["first name", "firstname", "given name", "forename", "first", "prenom"],
    "last_name": ["last name", "lastname", "surname", "family name", "last", "nom"],
    "phone": [
        "phone", "mobile", "mobile phone", "mobile number", "cell", "cell phone", "phone number",
        "telephone", "tel", "msisdn",
    ],
    "tags": ["tags", "tag", "labels"],
}  # fmt: skip
META_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# A header "field:<name>" is custom field <name> and nothing else: exports write it where the
# bare name would be read as another column (a custom field named "Email" or "Mobile").
FIELD_PREFIX = "field:"


def squash(header: str) -> str:
    """Lower-case letters and digits only: "E-mail Address" -> "emailaddress"."""
    return re.sub(r"[\W_]+", "", header.casefold())


def _ascii(header: str) -> str:
    """Letters and digits without accents: "Société" -> "societe", "Größe" -> "grosse"."""
    return squash(
        unicodedata.normalize("NFKD", header.casefold()).encode("ascii", "ignore").decode()
    )


def meta_key(header: str, index: int) -> str:
    """The metadata key offered for a column: its name in ASCII letters and digits
    ("Société" -> "societe", "Größe" -> "grosse"), as META_KEY allows, else "column<n>"."""
    return _ascii(header)[:64] or f"column{index + 1}"


_BY_SQUASHED = {squash(name): target for target, names in SYNONYMS.items() for name in names}


def header_key(headers: Iterable[str]) -> str:
    """Identifies a set of headers whatever their order, case or punctuation."""
    joined = "\x1f".join(sorted(squash(h) for h in headers))
    return hashlib.sha256(joined.encode()).hexdigest()


def field_headers(fields: Sequence[Field], *, beside: Iterable[str]) -> list[str]:
    """A header for each custom field that ``auto_mapping`` maps back to it in a file that
    also has the ``beside`` columns: the field's name, or ``field:<name>`` where the name
    alone would be read as one of those columns, a standard target, or another field."""
    taken = {squash(header) for header in beside} | set(_BY_SQUASHED)
    names = Counter(squash(field.name) for field in fields)
    return [
        field.name
        if squash(field.name) not in taken and names[squash(field.name)] == 1
        else FIELD_PREFIX + field.name
        for field in fields
    ]


def _prefixed_field(header: str, by_field: dict[str, str]) -> str | None:
    text = header.strip()
    if text[: len(FIELD_PREFIX)].casefold() != FIELD_PREFIX:
        return None
    # Field names are unique ignoring case, and stored with single spaces.
    return by_field.get(" ".join(text[len(FIELD_PREFIX) :].split()).casefold())


def auto_mapping(headers: list[str], fields: Iterable[Field]) -> dict[str, str]:
    """Match headers to targets by common names and custom field names; first match wins.

    A ``field:<name>`` header claims its field before any header matched by name: in an
    export, the built-in "id" column comes first and would take a custom field named "ID"."""
    fields = list(fields)
    by_name = dict(_BY_SQUASHED)
    for field in fields:
        by_name.setdefault(squash(field.name), f"field:{field.name}")
    by_field = {field.name.casefold(): f"field:{field.name}" for field in fields}
    mapping: dict[str, str] = {}

    def claim(index: int, target: str | None) -> None:
        if target and target not in mapping.values():
            mapping[str(index)] = target

    for index, header in enumerate(headers):
        claim(index, _prefixed_field(header, by_field))
    for index, header in enumerate(headers):
        if str(index) not in mapping:
            # Common names also without their accents: "Prénom", "Téléphone".
            claim(index, by_name.get(squash(header)) or _BY_SQUASHED.get(_ascii(header)))
    return dict(sorted(mapping.items(), key=lambda item: int(item[0])))


def mapping_by_header(mapping: dict[str, str], headers: list[str]) -> dict[str, str]:
    """The mapping keyed by squashed header name, so it applies to a reordered file too."""
    return {squash(headers[int(i)]): t for i, t in mapping.items() if int(i) < len(headers)}


def mapping_for_headers(saved: dict[str, str], headers: list[str]) -> dict[str, str]:
    # Two columns with one name (two "Email" columns) share a saved target: the first gets
    # it, as no target may be mapped twice. A custom field renamed since is offered under its
    # name now, a deleted one no longer (the mapping, as suggested, would be refused).
    saved = with_current_field_names(saved, drop_gone=True)
    mapping: dict[str, str] = {}
    for index, header in enumerate(headers):
        target = saved.get(squash(header))
        if target and target not in mapping.values():
            mapping[str(index)] = target
    return mapping


def with_current_field_names(mapping: dict[str, str], *, drop_gone: bool) -> dict[str, str]:
    """``mapping`` with each custom field target under the field's name now (a mapping names
    fields by name, and they may have been renamed since); a deleted field's target is dropped
    or, without ``drop_gone``, kept as it is."""
    names = field_names_now(
        {t.removeprefix(FIELD_PREFIX) for t in mapping.values() if t.startswith(FIELD_PREFIX)}
    )
    current: dict[str, str] = {}
    for key, target in mapping.items():
        if target.startswith(FIELD_PREFIX):
            name = target.removeprefix(FIELD_PREFIX)
            if name in names:
                target = FIELD_PREFIX + names[name]
            elif drop_gone:
                continue
        current[key] = target
    return current


def field_names_now(names: set[str]) -> dict[str, str]:
    """The name now of each custom field an import recorded under ``names``: a field renamed
    since is found through its audit trail; a deleted one (its values went with it) is left
    out."""
    current = {field.name.casefold(): field.name for field in Field.objects.all()}
    found: dict[str, str] = {}
    for name in names:
        if name.casefold() in current:
            found[name] = current[name.casefold()]
            continue
        renamed = (
            AuditEntry.objects.filter(
                object_type="field", action="field.rename", changes__name__0=name
            )
            .order_by("-id")
            .values_list("object_id", flat=True)
            .first()
        )
        field = Field.objects.filter(pk=renamed).first() if renamed else None
        if field is not None:
            found[name] = field.name
    return found


def validate_mapping(
    mapping: Mapping[str, str], headers: list[str], fields: Iterable[Field]
) -> dict[str, str]:
    """A clean mapping keyed by column index (unmapped columns dropped) from one keyed by
    index ("0") or header name ("E-mail"), or a ``SwitchboardError`` naming every problem."""
    problems = Problems()
    # Targets asked of a column that is not in the file: not missing from the mapping (an
    # unknown "Mail" column mapped to Email is one problem, not two).
    refused: set[str] = set()
    by_header: dict[str, list[str]] = {}
    for i, header in enumerate(headers):
        by_header.setdefault(squash(header), []).append(str(i))
    indexed: dict[str, str] = {}
    named: dict[str, str] = {}  # column index -> the key that named it
    for key, target in mapping.items():
        key = str(key)
        same_name = [] if key.isdigit() else by_header.get(squash(key), [])
        if len(same_name) > 1:
            # Two "Phone" columns (home and mobile): which one is meant is not for us to guess.
            refused.add((target or "").strip())
            problems.add(
                SwitchboardError(
                    "invalid_mapping",
                    f"This file has {len(same_name)} columns named “{key}”; name the one you "
                    f"mean by its index instead ({', '.join(same_name)}, counting from 0).",
                    field="mapping",
                )
            )
            continue
        index = key if key.isdigit() else (same_name or [None])[0]
        if index is not None and index.isascii():
            index = str(int(index))  # "01" is column 1
            if index in indexed and (indexed[index] or "").strip() != (target or "").strip():
                # "0" and "Email", or "Email" and "email ": one column given two targets, the
                # last silently winning (and an Email column then reported missing).
                refused.update({(indexed[index] or "").strip(), (target or "").strip()})
                problems.add(
                    SwitchboardError(
                        "invalid_mapping",
                        f"“{named[index]}” and “{key}” are the same column; give it one target.",
                        field="mapping",
                    )
                )
                continue
            indexed[index], named[index] = target, key
        else:
            refused.add((target or "").strip())
            problems.add(
                SwitchboardError(
                    "invalid_mapping", f"This file has no column “{key}”.", field="mapping"
                )
            )
    field_names = {f.name.lower(): f.name for f in fields}
    clean: dict[str, str] = {}
    seen: dict[str, str] = {}
    for index, target in indexed.items():
        target = (target or "").strip()
        if not target:
            continue
        if int(index) >= len(headers):
            refused.add(target)
            problems.add(
                SwitchboardError(
                    "invalid_mapping", f"There is no column {index} in this file.", field="mapping"
                )
            )
            continue
        target = problems.check(_clean_target, target, field_names)
        if target is None:
            continue
        if target in seen:
            problems.add(
                SwitchboardError(
                    "invalid_mapping",
                    f"Columns “{seen[target]}” and “{headers[int(index)]}” both map to "
                    f"{target}; pick one.",
                    field="mapping",
                )
            )
            continue
        seen[target] = headers[int(index)]
        clean[str(int(index))] = target
    if "email" not in clean.values() and "email" not in refused:
        problems.add(
            SwitchboardError(
                "no_email_column",
                "Map one column to Email: contacts are matched and created by email address.",
                field="mapping",
            )
        )
    problems.raise_any(code="invalid_mapping", summary="{count} problems with this mapping")
    return clean


def _clean_target(target: str, field_names: dict[str, str]) -> str:
    """The target as stored (a custom field's name as it is spelled), or a SwitchboardError."""
    if target.startswith("field:"):
        name = field_names.get(target.removeprefix("field:").strip().lower())
        if name is None:
            raise SwitchboardError(
                "unknown_field",
                f"There is no custom field named “{target.removeprefix('field:')}”.",
                field="mapping",
            )
        return f"field:{name}"
    if target.startswith("meta:"):
        if not META_KEY.match(target.removeprefix("meta:")):
            raise SwitchboardError(
                "invalid_mapping",
                "A metadata key has 1 to 64 letters, digits, “_”, “.” or “-”.",
                field="mapping",
            )
        return target
    if target not in STANDARD_TARGETS:
        raise SwitchboardError(
            "invalid_mapping", f"“{target}” is not something a column can map to.", field="mapping"
        )
    return target
