"""Turning one CSV record into clean contact values, or into reasons it cannot be imported.

Everything here is pure Python (no queries) so it is cheap per row; the caches are per job.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.validators import EmailValidator
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumberType

from contacts.imports.csvreader import FIELD_LIMIT, OversizedRecord
from contacts.models import Field
from contacts.phones import TYPE_LABELS, Phone, country_of, normalise_phone
from contacts.services.fields import parse_value
from contacts.services.normalise import (
    EMAIL_MAX,
    NAME_MAX,
    canonical_domain,
    search_key,
    visible,
)
from contacts.services.tags import TAG_MAX, tidy_tag_name
from dashboard.errors import SwitchboardError

# Number plans tell numbers apart by their leading digits: over a million random numbers in 24
# regions, the first 6 national digits plus the length always decided validity and region
# (5 did not). So one full phonenumbers validation per (country, 6 digits, length) is enough.
PREFIX_DIGITS = 6
_SEPARATORS = str.maketrans("", "", " -.()/\u00a0")
_TAG_SPLIT = re.compile(r"[,;|]")
_email_validator = EmailValidator()


@dataclass(slots=True)
class Issue:
    row: int
    column: str
    code: str
    reason: str
    outcome: str  # "invalid", "skipped" or "warning"

    def __reduce__(self):
        return Issue, (self.row, self.column, self.code, self.reason, self.outcome)


@dataclass(slots=True)
class CleanRow:
    row: int
    email: str
    phone: Phone | None = None
    first_name: str | None = None
    last_name: str | None = None
    # field id -> typed value; empty cells are left out (an import never blanks a value).
    fields: dict[int, Any] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    # Later rows of the file with the same email merged into this one (writer side only):
    # they share this row's outcome in the counts.
    merged: int = 0

    def __reduce__(self):
        # Rows go back from the cleaning processes pickled: the constructor with positional
        # values unpickles several times faster than dataclass slots' per-field __setstate__.
        return CleanRow, (
            self.row, self.email, self.phone, self.first_name, self.last_name, self.fields,
            self.meta, self.tags,
        )  # fmt: skip

    def merge(self, later: CleanRow) -> None:
        """A later row for the same email: its non-empty values win."""
        self.merged += 1 + later.merged
        self.phone = later.phone or self.phone
        self.first_name = later.first_name or self.first_name
        self.last_name = later.last_name or self.last_name
        self.fields.update(later.fields)
        self.meta.update(later.meta)
        self.tags.extend(t for t in later.tags if t.lower() not in {x.lower() for x in self.tags})


@functools.lru_cache(maxsize=8192)
def _domain_ok(domain: str) -> bool:
    return domain in _email_validator.domain_allowlist or _email_validator.validate_domain_part(
        domain
    )


def clean_email(raw: str) -> str:
    """Django's EmailValidator rules, with the domain check cached (few domains, many rows)."""
    email = visible(raw).strip().lower()
    if not email:
        raise SwitchboardError("missing_email", "No email address in this row.", field="email")
    user, at, domain = email.rpartition("@")
    try:
        domain = canonical_domain(domain)  # as the API and the staff pages store it
    except (ValueError, UnicodeError):
        raise SwitchboardError("invalid_email", f"“{raw}” is not a valid email address.") from None
    email = f"{user}{at}{domain}"
    if not (at and len(email) <= EMAIL_MAX and _email_validator.user_regex.match(user)):
        raise SwitchboardError("invalid_email", f"“{raw}” is not a valid email address.")
    if not _domain_ok(domain):
        raise SwitchboardError("invalid_email", f"“{raw}” is not a valid email address.")
    return email


# What contacts.services.exports puts a "'" before, so that a spreadsheet does not run it:
# taken off again, or "'-ann@acme.com" imported as another contact and names kept the "'".
# (Spreadsheets never write that apostrophe into a CSV: it only marks a cell as text.)
_DEFUSED = ("'=", "'+", "'-", "'@", "'\t", "'\r")


def looks_like_formula(value: str) -> bool:
    """Spreadsheets run cells starting with = + - @ as formulas (CSV injection)."""
    first = value[:1]
    if first in ("=", "@", "\t", "\r"):
        return True
    if first in ("+", "-"):
        return not value[1:].replace(".", "", 1).replace(" ", "").isdigit()
    return False


class PhoneCleaner:
    """E.164 for typed numbers, fast for the common shapes, exact for the rest.

    Input that is only digits and separators, either international ("+44…", "0044…") or
    national with the region's trunk prefix ("07700…"), is split into country code and
    national number without parsing; its validity and region come from a cache keyed by the
    leading digits, filled by a full phonenumbers validation of the first such number.
    Anything else goes through ``contacts.phones.normalise_phone`` (itself cached).
    """

    def __init__(self, region: str):
        self.region = region.upper()
        self.country_code = str(phonenumbers.country_code_for_region(self.region))
        metadata = PhoneMetadata.metadata_for_region(self.region)
        trunk = metadata.national_prefix if metadata else None
        parsing = metadata.national_prefix_for_parsing if metadata else None
        rewrites = metadata.national_prefix_transform_rule if metadata else None
        # Only a plain trunk prefix ("0") is stripped by hand, and only where the region's own
        # parsing rule would strip exactly that; regions with rewriting rules (Argentina…)
        # take the exact path.
        usable = bool(trunk and trunk.isdigit() and not rewrites)
        self.trunk = trunk if usable else None
        self.trunk_rule = re.compile(parsing or re.escape(trunk)) if usable else None
        self.by_prefix: dict[tuple[str, str, int], tuple[str, str]] = {}

    def _split(self, text: str) -> tuple[str, str] | None:
        digits = text.translate(_SEPARATORS)
        if digits.startswith("+"):
            digits = digits[1:]
        elif digits.startswith("00"):
            digits = digits[2:]
        elif self.trunk and digits.startswith(self.trunk):
            stripped = self.trunk_rule.match(digits)
            if not stripped or stripped.group(0) != self.trunk:
                return None
            national = digits[len(self.trunk) :]
            if national.isascii() and national.isdigit() and national[:1] != "0":
                return self.country_code, national
            return None
        else:
            return None
        # ASCII digits only: "²" is a digit int() refuses, and "٤٤" would end up in the
        # E.164 text; the exact path reads (or refuses) both.
        if not (digits.isascii() and digits.isdigit()):
            return None
        for length in (1, 2, 3):
            code = digits[:length]
            if int(code or 0) in COUNTRY_CODE_TO_REGION_CODE:
                national = digits[length:]
                return (code, national) if national[:1] not in ("", "0") else None
        return None

    def clean(self, raw: str) -> Phone | None:
        text = raw.strip()
        if not text:
            return None
        split = self._split(text)
        if split is None:
            return normalise_phone(text, region=self.region)
        code, national = split
        key = (code, national[:PREFIX_DIGITS], len(national))
        known = self.by_prefix.get(key)
        if known is None:
            known = self._validate(code, national)
            if known is None:
                # Invalid: let the exact path word the reason.
                return normalise_phone(text, region=self.region)
            self.by_prefix[key] = known
        region, kind = known
        return Phone(e164=f"+{code}{national}", region=region, type=kind)

    @staticmethod
    def _validate(code: str, national: str) -> tuple[str, str] | None:
        """The region and type of a valid number, else None: what ``phonenumbers.parse`` +
        ``is_valid_number`` + ``number_type`` decide, without re-parsing text already split
        into digits (and with each region's patterns compiled once)."""
        found = valid_region(code, national)
        if found is None:
            return None
        region, kind = found
        return country_of(region), TYPE_LABELS.get(kind, "unknown")


class _Patterns:
    """One region's number patterns, compiled once: ``phonenumbers`` looks each pattern up in
    its regex cache per check and runs the type tests twice per number (once to find the
    region, once to validate) and a third time for the type, several times slower than these
    same tests."""

    __slots__ = ("fixed_line", "general", "kinds", "leading", "mobile", "same_mobile_and_fixed")

    def __init__(self, metadata: PhoneMetadata):
        self.leading = re.compile(metadata.leading_digits) if metadata.leading_digits else None
        self.general = self._desc(metadata.general_desc)
        # The types _number_type_helper tries before fixed line and mobile, in its order.
        kinds = (
            ("premium_rate", PhoneNumberType.PREMIUM_RATE),
            ("toll_free", PhoneNumberType.TOLL_FREE),
            ("shared_cost", PhoneNumberType.SHARED_COST),
            ("voip", PhoneNumberType.VOIP),
            ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
            ("pager", PhoneNumberType.PAGER),
            ("uan", PhoneNumberType.UAN),
            ("voicemail", PhoneNumberType.VOICEMAIL),
        )
        self.kinds = [
            (desc, kind) for name, kind in kinds if (desc := self._desc(getattr(metadata, name)))
        ]
        self.fixed_line = self._desc(metadata.fixed_line)
        self.mobile = self._desc(metadata.mobile)
        self.same_mobile_and_fixed = bool(metadata.same_mobile_and_fixed_line_pattern)

    @staticmethod
    def _desc(desc) -> tuple[frozenset[int], re.Pattern] | None:
        if desc is None or not desc.national_number_pattern:
            return None
        return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)

    def kind(self, national: str) -> int:
        """phonenumbers' ``_number_type_helper(national, metadata)``: UNKNOWN when not valid."""
        length = len(national)
        general = self.general
        if general is None or not _matches(general, national, length):
            return PhoneNumberType.UNKNOWN
        for desc, kind in self.kinds:
            if _matches(desc, national, length):
                return kind
        mobile = self.mobile is not None and _matches(self.mobile, national, length)
        if self.fixed_line is not None and _matches(self.fixed_line, national, length):
            if self.same_mobile_and_fixed or mobile:
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self.same_mobile_and_fixed and mobile:
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN


def _matches(desc: tuple[frozenset[int], re.Pattern], national: str, length: int) -> bool:
    lengths, pattern = desc
    return (not lengths or length in lengths) and pattern.fullmatch(national) is not None


@functools.lru_cache(maxsize=512)
def _patterns(region: str) -> _Patterns | None:
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return None
    metadata = PhoneMetadata.metadata_for_region(region, None)
    return _Patterns(metadata) if metadata else None


@functools.lru_cache(maxsize=64)
def _nongeo_patterns(code: int) -> _Patterns | None:
    metadata = PhoneMetadata.metadata_for_nongeo_region(code, None)
    return _Patterns(metadata) if metadata else None


def valid_region(code: str, national: str) -> tuple[str, int] | None:
    """``region_code_for_number``, ``is_valid_number_for_region`` and ``number_type`` for a
    country code and a national number of digits without a leading zero: (region, type), or
    None when the number is not valid."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(int(code), ())
    if len(regions) == 1:
        region = regions[0]
        if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
            patterns = _nongeo_patterns(int(code))
        else:
            patterns = _patterns(region)
        if patterns is None:
            return None
        kind = patterns.kind(national)
        return None if kind == PhoneNumberType.UNKNOWN else (region, kind)
    for region in regions:
        patterns = _patterns(region)
        if patterns is None:
            continue
        if patterns.leading is not None:
            if patterns.leading.match(national):
                # phonenumbers picks this region by its leading digits, then validates.
                kind = patterns.kind(national)
                return None if kind == PhoneNumberType.UNKNOWN else (region, kind)
        elif (kind := patterns.kind(national)) != PhoneNumberType.UNKNOWN:
            return region, kind
    return None


class RowCleaner:
    """Cleans records of one file under one mapping; issues carry the spreadsheet row number."""

    def __init__(
        self,
        *,
        headers: list[str],
        mapping: dict[str, str],
        fields: list[Field],
        default_region: str = "",
        delimiter: str = ",",
    ):
        self.width = len(headers)
        self.headers = headers
        self.delimiter = delimiter
        self.phones = PhoneCleaner(default_region or settings.PHONE_DEFAULT_REGION)
        by_name = {f.name: f for f in fields}
        self.columns: list[tuple[int, str, str]] = []  # (index, header, target)
        for index, target in sorted(mapping.items(), key=lambda item: int(item[0])):
            self.columns.append((int(index), headers[int(index)], target))
        self.fields: dict[str, Field] = {}
        for _, header, target in self.columns:
            if not target.startswith("field:"):
                continue
            name = target.removeprefix("field:")
            if name not in by_name:
                # Deleted after the job was set up (the runner follows a field renamed since).
                raise SwitchboardError(
                    "unknown_field",
                    f"The custom field “{name}” that the column “{header[:60]}” was mapped to "
                    "no longer exists: it was deleted after this import was set up. "
                    "Upload the file again and map that column anew.",
                )
            self.fields[target] = by_name[name]

    def clean(self, number: int, values: list[str]) -> tuple[CleanRow | None, list[Issue]]:
        if isinstance(values, OversizedRecord):
            return None, [self._oversized(number, values)]
        issues: list[Issue] = []
        # A quoted line break is rare: one check for the whole record (~0.1 us).
        if "\n" in "".join(values) and (swallowed := self._swallowed(number, values)):
            return None, [swallowed]
        # Extra values that are all empty (a trailing delimiter on each row) lose nothing.
        if len(values) != self.width and (
            len(values) < self.width or any(v.strip() for v in values[self.width :])
        ):
            issues.append(
                Issue(
                    number,
                    "",
                    "ragged_row",
                    f"This row has {len(values)} values for {self.width} columns; "
                    + ("missing values were read as empty." if len(values) < self.width
                       else "the extra values were ignored."),
                    "warning",
                )
            )  # fmt: skip
        row = CleanRow(row=number, email="")
        errors: list[Issue] = []
        for index, header, target in self.columns:
            raw = values[index].strip() if index < len(values) else ""
            if raw.startswith(_DEFUSED):  # one C call per cell: this loop is the hot path
                raw = raw[1:]
            if target == "email":
                try:
                    row.email = clean_email(raw)
                except SwitchboardError as exc:
                    errors.append(Issue(number, header, exc.code, exc.message, "invalid"))
                continue
            if not raw:
                continue
            if target == "phone":
                try:
                    row.phone = self.phones.clean(raw)
                except SwitchboardError as exc:
                    errors.append(Issue(number, header, exc.code, exc.message, "invalid"))
                continue
            field = self.fields.get(target)
            text_like = field is None or field.type == "text"
            if text_like and looks_like_formula(raw):
                issues.append(
                    Issue(
                        number,
                        header,
                        "formula_value",
                        f"“{raw[:60]}” looks like a spreadsheet formula; it was not imported.",
                        "warning",
                    )
                )
                continue
            if field is not None:
                try:
                    row.fields[field.pk] = parse_value(field, raw)
                except SwitchboardError as exc:
                    errors.append(Issue(number, header, exc.code, exc.message, "invalid"))
            elif target in ("first_name", "last_name"):
                name = " ".join(raw.split())
                if len(name) > NAME_MAX:
                    errors.append(
                        Issue(
                            number,
                            header,
                            "invalid_name",
                            f"A name can be at most {NAME_MAX} characters.",
                            "invalid",
                        )
                    )
                setattr(row, target, name[:NAME_MAX])
            elif target == "tags":
                for tag in _TAG_SPLIT.split(raw):
                    tag = tidy_tag_name(tag)
                    if not tag:
                        continue
                    if len(tag) > TAG_MAX or looks_like_formula(tag):
                        issues.append(
                            Issue(
                                number,
                                header,
                                "invalid_tag",
                                f"“{tag[:60]}” is not a usable tag name; it was not applied.",
                                "warning",
                            )
                        )
                    elif tag.lower() not in {t.lower() for t in row.tags}:
                        row.tags.append(tag)
            elif target.startswith("meta:"):
                row.meta[target.removeprefix("meta:")] = raw
        if errors:
            return None, errors + issues
        return row, issues

    def _oversized(self, number: int, record: OversizedRecord) -> Issue:
        index = record.column
        header = self.headers[index] if index is not None and index < self.width else ""
        name = f"“{header or index + 1}” value" if index is not None else "a value"
        limit = f"{FIELD_LIMIT // 1024 // 1024} MB"
        if record.unclosed:
            reason = (
                f'A quote (") in this row is never closed, so the rest of the file was read '
                f"into its {name}, past the {limit} a value can hold: none of it was imported. "
                "Close the quote and import the file again."
            )
        else:
            reason = (
                f"This row's {name} is larger than the {limit} a value can hold; the row was "
                "not imported. Shorten it (or check it for a quote left open) and import the "
                "row again."
            )
        return Issue(number, header, "value_too_large", reason, "invalid")

    def _swallowed(self, number: int, values: list[str]) -> Issue | None:
        """A value whose later lines look like rows of their own (a full row's delimiters and
        an email address): a quote left open read the rows that follow into it, and they would
        be lost without a word."""
        needed = max(1, self.width - 1)
        for index, value in enumerate(values):
            lines = value.split("\n")[1:]
            rows = [line for line in lines if line.count(self.delimiter) >= needed and "@" in line]
            if rows and any(_EMAIL_LIKE.search(line) for line in rows):
                header = self.headers[index] if index < self.width else ""
                return Issue(
                    number,
                    header,
                    "unclosed_quote",
                    f'A quote (") in this row is not closed, so {len(rows)} line(s) that look '
                    f"like rows of their own (from “{rows[0][:40]}”) were read into its "
                    f"“{header or index + 1}” value and not imported. Close the quote and "
                    "import the file again.",
                    "invalid",
                )
        return None


_EMAIL_LIKE = re.compile(r"[^\s@,;\t\"]+@[^\s@,;\t\"]+\.[^\s@,;\t\"]+")


# Names repeat a lot in a file: normalise each distinct one once.
_search_key = functools.lru_cache(maxsize=65536)(search_key)


def name_keys(row: CleanRow) -> tuple[str, str]:
    return _search_key(row.first_name or ""), _search_key(row.last_name or "")
