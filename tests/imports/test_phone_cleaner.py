"""The import's fast phone path gives exactly what the contacts service's exact path gives."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from contacts.imports.rows import PhoneCleaner
from contacts.phones import TYPE_LABELS, country_of, normalise_phone
from dashboard.errors import SwitchboardError


def exact(text: str, region: str) -> str | None:
    try:
        phone = normalise_phone(text, region=region)
    except SwitchboardError:
        return None
    return f"{phone.e164} {phone.region}" if phone else None


def fast(cleaner: PhoneCleaner, text: str) -> str | None:
    try:
        phone = cleaner.clean(text)
    except SwitchboardError:
        return None
    return f"{phone.e164} {phone.region}" if phone else None


@pytest.mark.parametrize("region", ["GB", "FR", "US", "DE", "AR"])
def test_the_fast_path_agrees_with_phonenumbers_on_random_numbers(region):
    rng = random.Random(region)
    cleaner = PhoneCleaner(region)
    spellings = [
        lambda d: f"+44 {d}", lambda d: f"+33{d}", lambda d: f"+1 {d}", lambda d: f"0049{d}",
        lambda d: f"0{d}", lambda d: f"({d[:3]}) {d[3:]}", lambda d: f"+54 9 {d}", lambda d: d,
    ]  # fmt: skip
    checked = 0
    for _ in range(3000):
        digits = str(rng.randint(2, 9)) + "".join(rng.choice("0123456789") for _ in range(9))
        text = rng.choice(spellings)(digits)
        assert fast(cleaner, text) == exact(text, region), text
        checked += 1
    # The cache answered some of them: the comparison covered both paths.
    assert checked == 3000 and cleaner.by_prefix


def test_common_spellings_of_one_number_give_one_e164():
    cleaner = PhoneCleaner("GB")
    spellings = ["07400 123456", "+44 7400 123456", "+447400123456", "0044 7400-123456"]
    assert {cleaner.clean(s).e164 for s in spellings} == {"+447400123456"}


@pytest.mark.parametrize("text", ["+²4 7400 123456", "0²7400 123456", "+٤٤ 7400 123456"])
def test_digits_other_than_ascii_take_the_exact_path(text):
    # "²" is a digit int() refuses (it stopped the whole import); "٤٤" would have put
    # Arabic-Indic digits into the E.164 text. phonenumbers reads the one and refuses the other.
    cleaner = PhoneCleaner("GB")
    assert fast(cleaner, text) == exact(text, "GB")
    if text.startswith("+٤٤"):
        assert cleaner.clean(text).e164 == "+447400123456"


def reference(code: int, national: str) -> tuple[str, str] | None:
    """(region, type label) as phonenumbers itself decides them, None when not valid."""
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    region = phonenumbers.region_code_for_number(number)
    if not (region and phonenumbers.is_valid_number_for_region(number, region)):
        return None
    # Stored as a country: "" for the non-geographic "001" (satellite, +800, +883).
    return country_of(region), TYPE_LABELS[phonenumbers.number_type(number)]


def test_the_fast_validation_agrees_with_phonenumbers_in_every_country():
    rng = random.Random(44)
    codes = sorted(COUNTRY_CODE_TO_REGION_CODE)
    valid = 0
    for _ in range(20000):
        code = rng.choice(codes)
        national = str(rng.randint(1, 9)) + "".join(
            rng.choice("0123456789") for _ in range(rng.randint(3, 12))
        )
        expected = reference(code, national)
        assert PhoneCleaner._validate(str(code), national) == expected, f"+{code} {national}"
        valid += expected is not None
    assert valid > 500  # valid and invalid numbers both compared
