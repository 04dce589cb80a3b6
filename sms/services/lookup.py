"""Phone lookup: what kind of number this is, where, and in which time zones."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as pn_timezone

from contacts.phones import normalise_phone

TYPE_LABELS = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed line or mobile",
    PhoneNumberType.VOIP: "VoIP",
    PhoneNumberType.TOLL_FREE: "toll free",
    PhoneNumberType.PREMIUM_RATE: "premium rate",
    PhoneNumberType.SHARED_COST: "shared cost",
    PhoneNumberType.PERSONAL_NUMBER: "personal number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "UAN",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}
# Numbers that can take an SMS; North American numbers cannot be told apart, so they pass.
SMS_CAPABLE = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


@dataclass(frozen=True)
class NumberInfo:
    e164: str
    region: str
    international: str
    type: str
    is_mobile: bool
    time_zones: tuple[str, ...]
    description: str  # "London", "United Kingdom"
    carrier: str


def lookup_number(raw: str, *, region: str | None = None) -> NumberInfo | None:
    """Everything phonenumbers knows about ``raw``; None for empty input, ``invalid_phone``
    (SwitchboardError) for a number that is not valid."""
    phone = normalise_phone(raw, region=region)
    if phone is None:
        return None
    return describe(phone.e164)


@functools.lru_cache(maxsize=65536)
def describe(e164: str) -> NumberInfo:
    # Imported here: the place and carrier tables are ~100 MB in memory, and every process
    # that loads Django (web, workers, imports) would otherwise hold them without a lookup.
    from phonenumbers import carrier, geocoder

    number = phonenumbers.parse(e164, None)
    kind = phonenumbers.number_type(number)
    zones = tuple(z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    return NumberInfo(
        e164=e164,
        region=phonenumbers.region_code_for_number(number) or "",
        international=phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        ),
        type=TYPE_LABELS.get(kind, "unknown"),
        is_mobile=kind in SMS_CAPABLE,
        time_zones=zones,
        description=geocoder.description_for_number(number, "en"),
        carrier=carrier.name_for_number(number, "en"),
    )
