"""Phone numbers: parse what people type into E.164 with phonenumbers."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from phonenumbers import PhoneNumberType

from dashboard.errors import SwitchboardError

_PHONE_CHARS = re.compile(r"^[\d\s().+\-/]+$")
# What a spreadsheet cell holds besides one number: "07400 123456 (mobile)", "… / …".
_WORDS = re.compile(r"[^\W\d_]{2,}")
_SEVERAL = re.compile(
    r"\d[\d\s().\-]{5,}\d\s*(?:[/,;|&]|\s(?:or|and|ou|et|oder|und|o|y)\s)\s*\+?\d"
)


# What ``phonenumbers.number_type`` says, in words; stored with the number on the contact
# (``Contact.phone_type``) so campaigns can screen a large audience without parsing each one.
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
SMS_CAPABLE_LABELS = frozenset(TYPE_LABELS[t] for t in SMS_CAPABLE)


@dataclass(frozen=True)
class Phone:
    e164: str
    region: str  # ISO 3166 alpha-2, e.g. "GB"
    type: str = ""  # a TYPE_LABELS word; "" when not worked out

    def __reduce__(self):
        # Cheaper to unpickle (import rows come back from worker processes) than the frozen
        # dataclass's default.
        return Phone, (self.e164, self.region, self.type)


def type_label(number: phonenumbers.PhoneNumber) -> str:
    return TYPE_LABELS.get(phonenumbers.number_type(number), "unknown")


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
        why = f": {extra}" if (extra := _extra_text(text)) else f" ({exc._msg.rstrip('.')})"
        raise SwitchboardError(
            "invalid_phone", f"“{text}” is not a phone number{why}.", field="phone"
        ) from None
    # number_type is UNKNOWN exactly when is_valid_number is False (both match the national
    # number against the same region's patterns), so one call gives validity and the type.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        if extra := _extra_text(text):
            hint = f": {extra}"
        elif text.startswith("+"):
            hint = ""
        else:
            hint = f" for region {region}; add the country code (+…)"
        raise SwitchboardError(
            "invalid_phone", f"“{text}” is not a valid phone number{hint}.", field="phone"
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    region = country_of(phonenumbers.region_code_for_number(number))
    return Phone(e164=e164, region=region, type=TYPE_LABELS.get(kind, "unknown"))


def _extra_text(text: str) -> str:
    """Why a cell is more than one number, or "". phonenumbers reads letters as a keypad's
    digits ("(mobile)" becomes 662453), so without this the number is "too long" or needs "the
    country code", and whoever fixes the row looks for the wrong thing."""
    if _SEVERAL.search(text):
        return "it seems to hold more than one number; keep one"
    words = [w for w in _WORDS.findall(text) if w.lower() not in ("tel", "ext", "x")]
    if words and sum(ch.isdigit() for ch in text) >= 6:
        return f"it holds words as well as a number (“{words[0]}”); keep only the number"
    return ""


def country_of(region: str | None) -> str:
    """The ISO country phonenumbers gives a number, or "" for one of no country: satellite
    phones (+881, +870) and international freephone (+800) are region "001", which no
    two-letter country column holds (a server error on PostgreSQL)."""
    return region if region and len(region) == 2 else ""


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
