"""Segment counting: GSM-7 160/153, UCS-2 70/67, extension characters count double."""

from __future__ import annotations

import pytest

from sms.services.encoding import GSM7, UCS2, analyse


@pytest.mark.parametrize(
    ("text", "encoding", "length", "segments"),
    [
        ("", GSM7, 0, 0),
        ("Hello", GSM7, 5, 1),
        ("a" * 160, GSM7, 160, 1),
        ("a" * 161, GSM7, 161, 2),
        ("a" * 306, GSM7, 306, 2),
        ("a" * 307, GSM7, 307, 3),
        ("€" * 80, GSM7, 160, 1),  # extension characters take two septets
        ("€" * 81, GSM7, 162, 2),
        ("a" * 152 + "[", GSM7, 154, 1),
        ("a" * 159 + "^", GSM7, 161, 2),
        # 152 plain + an escape pair would straddle the first part's end: it moves whole.
        ("a" * 152 + "{" + "a" * 10, GSM7, 164, 2),
        ("a" * 152 + "{" + "a" * 152, GSM7, 306, 3),  # 306 septets, yet three parts
        ("Café £5 @ 10:00 ñ Ü ß", GSM7, 21, 1),
        ("ç is GSM, ê is not", UCS2, 18, 1),
        ("ê" * 70, UCS2, 70, 1),
        ("ê" * 71, UCS2, 71, 2),
        ("ê" * 134, UCS2, 134, 2),
        ("ê" * 135, UCS2, 135, 3),
        ("😀" * 35, UCS2, 70, 1),  # emoji outside the BMP are two UTF-16 units
        ("😀" * 36, UCS2, 72, 2),
        ("a" * 66 + "😀", UCS2, 68, 1),
        ("a" * 66 + "😀" + "a" * 2, UCS2, 70, 1),
        ("a" * 66 + "😀" + "a" * 3, UCS2, 71, 2),
        ("Привет", UCS2, 6, 1),
    ],
)
def test_it_counts_segments(text, encoding, length, segments):
    info = analyse(text)
    assert (info.encoding, info.length, info.segments) == (encoding, length, segments)


def test_it_names_the_characters_that_force_ucs2_once_each_in_order():
    assert analyse("Thanks 🙏 — see you 🙏").ucs2_chars == ("🙏", "—")


def test_multipart_capacity_is_153_or_67():
    assert analyse("hello").per_segment == 153
    assert analyse("hellö…").per_segment == 67
