"""Who a campaign reaches and what it costs: the audience (a list, tag or segment) screened
for numbers that cannot or may not be texted, each message rendered and priced.

Screening reads the audience in chunks with a handful of queries per chunk, so a 100,000
contact segment is counted in seconds; nothing here writes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import phonenumbers
from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from phonenumbers import PhoneNumberType
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from contacts.models import Contact, ContactList, Field, FieldValue, SuppressionKind, Tag
from contacts.phones import SMS_CAPABLE, SMS_CAPABLE_LABELS, TYPE_LABELS
from contacts.services import segments as segment_service
from contacts.services.suppression import suppressed_hashes
from dashboard.errors import SwitchboardError
from sms.campaigns.models import AudienceKind
from sms.models import MessageKind, OptOut
from sms.services import credits
from sms.services.encoding import TextInfo, analyse
from sms.services.messages import PLACEHOLDER

CHUNK = 5000
SAMPLES = 3
BASE_PLACEHOLDERS = ("first_name", "last_name", "full_name", "email", "phone")
# Why a contact in the audience gets no message, in the order they are checked.
EXCLUSIONS = {
    "invalid_phone": "no valid mobile number",
    "duplicate_phone": "same number as another contact",
    "suppressed": "opted out or suppressed",
    "unsubscribed": "unsubscribed",
    "no_consent": "no SMS consent",
}


@dataclass(frozen=True)
class Candidate:
    contact_id: object
    phone: str
    country: str
    time_zone: str
    name: str
    text: str  # as the recipient reads it
    encoding: str
    segments: int
    price: Decimal


@dataclass
class Screening:
    audience: int = 0
    excluded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EXCLUSIONS, 0))
    recipients: list[Candidate] = field(default_factory=list)
    cost_by_country: dict[str, dict] = field(default_factory=dict)
    cost: Decimal = Decimal("0")
    max_segments: int = 0
    balance: Decimal = Decimal("0")

    @property
    def count(self) -> int:
        return len(self.recipients)

    @property
    def balance_after(self) -> Decimal:
        return self.balance - self.cost

    @property
    def covered(self) -> bool:
        return self.cost <= self.balance

    @property
    def samples(self) -> list[Candidate]:
        return self.recipients[:SAMPLES]

    def exclusion_rows(self) -> list[tuple[str, str, int]]:
        return [(code, EXCLUSIONS[code], n) for code, n in self.excluded.items()]

    def as_dict(self) -> dict:
        return {
            "audience": self.audience, "recipients": self.count, "excluded": self.excluded,
            "max_segments": self.max_segments, "cost": str(self.cost),
            "cost_by_country": {c: {"recipients": v["recipients"], "cost": str(v["cost"])}
                                for c, v in sorted(self.cost_by_country.items())},
            "balance": str(self.balance), "balance_after": str(self.balance_after),
            "samples": [{"phone": s.phone, "name": s.name, "text": s.text, "segments": s.segments}
                        for s in self.samples],
        }  # fmt: skip


def resolve_audience(kind: str, audience_id: object) -> tuple[QuerySet[Contact], str]:
    """The contacts of a list, tag or segment right now, and a label for it."""
    try:
        pk = int(audience_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pk = None
    if kind == AudienceKind.LIST:
        found = ContactList.objects.filter(pk=pk).first() if pk else None
        if found is None:
            raise SwitchboardError(
                "unknown_list", "That list no longer exists; choose another audience.",
                field="audience",
            )  # fmt: skip
        return Contact.objects.filter(list_memberships__list_id=pk), f"list “{found.name}”"
    if kind == AudienceKind.TAG:
        found = Tag.objects.filter(pk=pk).first() if pk else None
        if found is None:
            raise SwitchboardError(
                "unknown_tag", "That tag no longer exists; choose another audience.",
                field="audience",
            )  # fmt: skip
        return Contact.objects.filter(contact_tags__tag_id=pk), f"tag “{found.name}”"
    if kind == AudienceKind.SEGMENT:
        try:
            segment = segment_service.get_segment(pk) if pk else None
        except SwitchboardError:
            segment = None
        if segment is None:
            raise SwitchboardError(
                "unknown_segment", "That segment no longer exists; choose another audience.",
                field="audience",
            )  # fmt: skip
        return segment_service.segment_members(segment), f"segment “{segment.name}”"
    raise SwitchboardError(
        "invalid_audience", "Choose a list, a tag or a segment.", field="audience"
    )


def placeholder_fields(text: str) -> dict[str, int]:
    """The custom fields ``text`` uses (lower-case name -> id); unknown placeholders refused."""
    names = {m.group(1).lower() for m in PLACEHOLDER.finditer(text or "")}
    custom = names - set(BASE_PLACEHOLDERS)
    fields = {}
    if custom:
        for pk, name in Field.objects.values_list("pk", "name"):
            if name.lower() in custom:
                fields[name.lower()] = pk
    unknown = sorted(custom - set(fields))
    if unknown:
        known = ", ".join(f"{{{n}}}" for n in BASE_PLACEHOLDERS)
        raise SwitchboardError(
            "unknown_placeholder",
            f"Unknown placeholder {', '.join('{' + n + '}' for n in unknown)}. Use {known} or "
            "the name of a custom field.",
            field="text",
            placeholders=unknown,
        )
    return fields


def _rows(contacts: QuerySet[Contact]) -> Iterator[list[tuple]]:
    # The STOP list is joined here rather than asked for each chunk's numbers.
    rows = (
        contacts.order_by("pk")
        .annotate(stopped=Exists(OptOut.objects.filter(phone=OuterRef("phone"))))
        .values_list(
            "pk", "phone", "email", "first_name", "last_name", "sms_consent", "unsubscribed_at",
            "phone_country", "phone_type", "stopped",
        )
    )  # fmt: skip
    chunk: list[tuple] = []
    for row in rows.iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def screen(
    *, kind: str, audience_kind: str, audience_id: object, text: str, limit: int | None = None
) -> Screening:
    """Count, exclude, render and price. ``limit`` stops after that many recipients (samples)."""
    if kind not in MessageKind.values:
        raise SwitchboardError("invalid_kind", "A campaign is marketing or transactional.")
    if not (text or "").strip():
        raise SwitchboardError("empty_text", "Write the message first.", field="text")
    fields = placeholder_fields(text)
    contacts, _label = resolve_audience(audience_kind, audience_id)
    marketing = kind == MessageKind.MARKETING
    result = Screening(balance=credits.get_balance())
    plain = not PLACEHOLDER.search(text)
    plain_shape = analyse(text) if plain else None
    if plain_shape is not None and plain_shape.segments > settings.SMS_MAX_SEGMENTS:
        raise _too_long(plain_shape)
    prices: dict[str, Decimal | None] = {}
    seen: set[str] = set()
    for chunk in _rows(contacts):
        result.audience += len(chunk)
        valid = []
        for row in chunk:
            info = _stored_mobile(row[1], row[7], row[8]) if row[8] else _mobile(row[1])
            if info is None:
                result.excluded["invalid_phone"] += 1
            else:
                valid.append((row, info))
        phones = [info.e164 for _, info in valid]
        blocked = suppressed_hashes(SuppressionKind.PHONE, phones)
        kept = []
        for row, info in valid:
            if row[9] or info.e164 in blocked:
                result.excluded["suppressed"] += 1
            elif marketing and row[6] is not None:
                result.excluded["unsubscribed"] += 1
            elif marketing and row[5] != "granted":
                result.excluded["no_consent"] += 1
            elif info.e164 in seen:
                # Last: of two contacts sharing a number, the one who may be texted gets it,
                # even when the other comes first and has unsubscribed or never consented.
                result.excluded["duplicate_phone"] += 1
            else:
                seen.add(info.e164)
                kept.append((row, info))
        custom = _custom_values([row[0] for row, _ in kept], fields) if fields else {}
        missing = {info.region for _, info in kept} - set(prices)
        if missing:
            prices.update(credits.prices_for(missing))
        for row, info in kept:
            pk, _phone, email, first, last = row[:5]
            if plain:
                rendered, shape = text, plain_shape
            else:
                values = {"first_name": first, "last_name": last,
                          "full_name": f"{first} {last}".strip(), "email": email,
                          "phone": info.e164, **custom.get(pk, {})}  # fmt: skip
                rendered = PLACEHOLDER.sub(lambda m, v=values: v.get(m.group(1).lower(), ""), text)
                shape = analyse(rendered)
            per_segment = prices.get(info.region)
            if per_segment is None:
                raise SwitchboardError(
                    "no_price",
                    f"There is no SMS price for {info.region or 'some recipients'}; an admin can "
                    "add one on the Credits page.",
                )
            price = per_segment * shape.segments
            result.recipients.append(Candidate(
                contact_id=pk, phone=info.e164, country=info.region,
                time_zone=info.time_zones[0] if info.time_zones else "", name=f"{first} {last}".strip() or email,
                text=rendered, encoding=shape.encoding, segments=shape.segments, price=price,
            ))  # fmt: skip
            result.max_segments = max(result.max_segments, shape.segments)
            result.cost += price
            by = result.cost_by_country.setdefault(
                info.region, {"recipients": 0, "cost": Decimal("0")}
            )
            by["recipients"] += 1
            by["cost"] += price
        if limit is not None and result.count >= limit:
            break
    if result.max_segments > settings.SMS_MAX_SEGMENTS:
        # Placeholders made it too long for some: a single send to them would be refused.
        over = [c for c in result.recipients if c.segments > settings.SMS_MAX_SEGMENTS]
        raise _too_long(analyse(max(over, key=lambda c: c.segments).text), len(over))
    return result


def _too_long(shape: TextInfo, recipients: int = 0) -> SwitchboardError:
    """``text_too_long`` as a single send says it (``prepare_message``), and for how many."""
    whom = (
        f" for {recipients} recipient(s), with their placeholders filled in" if recipients else ""
    )
    return SwitchboardError(
        "text_too_long",
        f"This text needs {shape.segments} segments{whom}; the limit is "
        f"{settings.SMS_MAX_SEGMENTS} ({shape.encoding}, {shape.per_segment} characters each).",
        field="text",
        segments=shape.segments,
    )


@dataclass(frozen=True)
class Mobile:
    e164: str
    region: str
    time_zones: tuple[str, ...]


def _stored_mobile(phone: str, region: str, kind: str) -> Mobile | None:
    """The number if it can take a text, from the type and region stored with it on the
    contact (set when the phone was normalised): no parsing."""
    if kind not in SMS_CAPABLE_LABELS:
        return None
    if not region:
        return _mobile(phone)
    return Mobile(phone, region, _zones(phone[1 : 1 + TIMEZONE_LONGEST_PREFIX], kind))


@functools.lru_cache(maxsize=65536)
def _zones(digits: str, kind: str) -> tuple[str, ...]:
    """``phonenumbers.timezone.time_zones_for_number`` for a valid SMS-capable number of type
    ``kind`` whose E.164 digits start with ``digits`` (the library's longest time-zone prefix
    of them): the same table look-up, by prefix, without parsing the number or typing it."""
    code = next(
        (int(digits[:n]) for n in (1, 2, 3) if int(digits[:n] or 0) in COUNTRY_CODE_TO_REGION_CODE),
        0,
    )
    number_type = (
        PhoneNumberType.MOBILE if kind == "mobile" else PhoneNumberType.FIXED_LINE_OR_MOBILE
    )
    if phonenumbers.is_number_type_geographical(number_type, code):
        prefixes = [digits[:n] for n in range(TIMEZONE_LONGEST_PREFIX, 0, -1)]
    else:
        prefixes = [str(code)]
    zones: tuple[str, ...] = ()
    for prefix in prefixes:
        if prefix in TIMEZONE_DATA:
            zones = tuple(TIMEZONE_DATA[prefix])
            break
    return tuple(z for z in zones if z != "Etc/Unknown")


@functools.lru_cache(maxsize=262144)
def _mobile(phone: str) -> Mobile | None:
    """The number if it can take a text, else None, for a contact whose phone type is not
    stored. Only what screening needs: one type check (``lookup.describe`` also asks for the
    place and carrier, several times slower)."""
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    kind = phonenumbers.number_type(number)
    if kind not in SMS_CAPABLE:
        return None
    zones = _zones(phone[1 : 1 + TIMEZONE_LONGEST_PREFIX], TYPE_LABELS[kind])
    return Mobile(phone, phonenumbers.region_code_for_number(number) or "", zones)


def _custom_values(contact_ids: list, fields: dict[str, int]) -> dict[object, dict[str, str]]:
    names = {pk: name for name, pk in fields.items()}
    values: dict[object, dict[str, str]] = {}
    rows = FieldValue.objects.filter(contact_id__in=contact_ids, field_id__in=list(names))
    for fv in rows.select_related("field"):
        values.setdefault(fv.contact_id, {})[names[fv.field_id]] = fv.display_value
    return values
