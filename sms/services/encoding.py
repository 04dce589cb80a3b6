"""GSM-7 or UCS-2, and how many segments a text costs (3GPP TS 23.038)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# The GSM 03.38 default alphabet; one septet each.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: an escape septet plus one, so each counts double.
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"


@dataclass(frozen=True)
class TextInfo:
    encoding: str
    length: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int
    per_segment: int  # capacity of one segment of a multi-part message (153 / 67)
    ucs2_chars: tuple[str, ...]  # the characters that forced UCS-2, in order of appearance

    @property
    def single_limit(self) -> int:
        return 160 if self.encoding == GSM7 else 70

    @property
    def ucs2_labels(self) -> tuple[str, ...]:
        """The characters that forced UCS-2 as staff can recognise them: invisible ones
        (a no-break or zero-width space pasted from a document) and combining marks (an
        accent typed as its own character) by code point and name."""
        return tuple(_label(ch) for ch in self.ucs2_chars)


def _label(ch: str) -> str:
    if ch.isprintable() and not ch.isspace() and unicodedata.category(ch) not in ("Mn", "Me"):
        return f"“{ch}”"
    name = unicodedata.name(ch, "").lower()
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def analyse(text: str) -> TextInfo:
    # The common case, a short text in the basic alphabet, as set operations: campaign
    # screening analyses every recipient's rendered text.
    if len(text) <= 160 and GSM_BASIC.issuperset(text):
        return TextInfo(GSM7, len(text), 1 if text else 0, 153, ())
    forcing = tuple(
        dict.fromkeys(ch for ch in text if ch not in GSM_BASIC and ch not in GSM_EXTENDED)
    )
    if not forcing:
        costs = [2 if ch in GSM_EXTENDED else 1 for ch in text]
        single, multi, encoding = 160, 153, GSM7
    else:
        # UTF-16: characters outside the BMP (most emoji) take two code units.
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, multi, encoding = 70, 67, UCS2
    length = sum(costs)
    if length <= single:
        return TextInfo(encoding, length, 1 if length else 0, multi, forcing)
    # Multi-part: an escape pair or surrogate pair is never split across two segments.
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments, used = segments + 1, 0
        used += cost
    return TextInfo(encoding, length, segments, multi, forcing)
