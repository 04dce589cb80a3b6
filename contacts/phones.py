"""Phone numbers: parse what people type into E.164 with phonenumbers."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from django.conf import settings

from dashboard.errors import SwitchboardError

_PHONE_CHARS = re.compile(r"^[\d\s().+\-/]+$")


@dataclass(frozen=True)
class Phone:
    e164: str
    region: str  # ISO 3166 alpha-2, e.g. "GB"


def looks_like_phone(text: str) -> bool:
    return bool(_PHONE_CHARS.match(text)) and sum(ch.isdigit() for ch in text) >= 3


def normalise_phone(raw: str, *, region: str | None = None) -> Phone | None:
    """E.164 for ``raw`` ("+44 7700 900123", "0044…", "07700 900123" with region GB).

    Empty input gives None; anything that is not a valid number raises ``invalid_phone``.
    """
    text = (raw or "").strip()
    if not text:
        return None
    return _parse(text, (region or settings.PHONE_DEFAULT_REGION).upper())


@functools.lru_cache(maxsize=65536)
def _parse(text: str, region: str) -> Phone:
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise SwitchboardError(
            "invalid_phone",
            f"“{text}” is not a phone number ({exc._msg.rstrip('.')}).",
            field="phone",
        ) from None
    if not phonenumbers.is_valid_number(number):
        hint = "" if text.startswith("+") else f" for region {region}; add the country code (+…)"
        raise SwitchboardError(
            "invalid_phone", f"“{text}” is not a valid phone number{hint}.", field="phone"
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Phone(e164=e164, region=phonenumbers.region_code_for_number(number) or "")


def search_prefixes(text: str, *, region: str | None = None) -> list[str]:
    """E.164 prefixes a partly typed number could start with, for phone search."""
    digits = re.sub(r"\D", "", text)
    if not digits:
        return []
    stripped = text.strip()
    if stripped.startswith("+"):
        return ["+" + digits]
    if digits.startswith("00"):
        return ["+" + digits[2:]]
    code = phonenumbers.country_code_for_region((region or settings.PHONE_DEFAULT_REGION).upper())
    if digits.startswith("0"):
        # National format with a trunk prefix: 07700… -> +447700…
        return [f"+{code}{digits[1:]}"]
    # Either international without the "+" or national without a trunk prefix.
    return ["+" + digits, f"+{code}{digits}"]


def format_national(e164: str) -> str:
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
