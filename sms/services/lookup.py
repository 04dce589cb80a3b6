"""Phone lookup: what kind of number this is, where, and in which time zones."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone as pn_timezone

from contacts.phones import SMS_CAPABLE, TYPE_LABELS, country_of, normalise_phone


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
        # A satellite phone has no country ("" rather than "001"): priced at "*".
        region=country_of(phonenumbers.region_code_for_number(number)),
        international=phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        ),
        type=TYPE_LABELS.get(kind, "unknown"),
        is_mobile=kind in SMS_CAPABLE,
        time_zones=zones,
        description=geocoder.description_for_number(number, "en"),
        carrier=carrier.name_for_number(number, "en"),
    )
