"""contacts.phones: what people type, turned into E.164 (and into search prefixes)."""

from __future__ import annotations

import pytest

from contacts import phones
from dashboard.errors import SwitchboardError


@pytest.mark.parametrize(
    ("raw", "region", "e164", "country"),
    [
        ("+44 7700 123456", None, "+447700123456", "GB"),
        ("+447700123456", "FR", "+447700123456", "GB"),
        ("0044 7700 123456", None, "+447700123456", "GB"),
        ("07700 123456", None, "+447700123456", "GB"),
        ("(07700) 123-456", "GB", "+447700123456", "GB"),
        ("06 12 34 56 78", "FR", "+33612345678", "FR"),
        ("06 12 34 56 78", "fr", "+33612345678", "FR"),
        ("+1 (415) 555-2671", None, "+14155552671", "US"),
        ("415 555 2671", "US", "+14155552671", "US"),
        # A satellite phone has no country (phonenumbers' "001" fits no country column).
        ("+881 6 312 34567", None, "+881631234567", ""),
        ("+870 772 001 899", "FR", "+870772001899", ""),
    ],
)
def test_it_normalises_to_e164_with_the_country(raw, region, e164, country):
    phone = phones.normalise_phone(raw, region=region)
    assert (phone.e164, phone.region) == (e164, country)


def test_national_numbers_use_the_configured_default_region(settings):
    settings.PHONE_DEFAULT_REGION = "FR"

    assert phones.normalise_phone("06 12 34 56 78").e164 == "+33612345678"


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_an_empty_phone_is_no_phone(raw):
    assert phones.normalise_phone(raw) is None


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("12345", "add the country code"),
        ("07700 900123", "add the country code"),  # Ofcom's drama range: not a real number
        ("+44 20", "not a valid phone number"),
        ("call me", "not a phone number"),
        ("+", "not a phone number"),
        # Spreadsheet cells: phonenumbers reads the letters as keypad digits, so the number
        # came back "too long" or needing "the country code".
        ("07400 123456 (mobile)", "holds words as well as a number (“mobile”)"),
        ("+44 7400 123456 home", "keep only the number"),
        ("07400 123456 / 07400 999999", "more than one number; keep one"),
        ("+33 6 12 34 56 78 ou 06 12 34 56 79", "more than one number; keep one"),
    ],
)
def test_it_refuses_an_invalid_number_with_a_clear_message(raw, hint):
    with pytest.raises(SwitchboardError) as caught:
        phones.normalise_phone(raw)

    assert (caught.value.code, caught.value.field) == ("invalid_phone", "phone")
    assert hint in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("07700 123456", True),
        ("+44 (0)7700", True),
        ("12", False),
        ("alice", False),
        ("07700x", False),
    ],
)
def test_it_tells_phone_like_text_from_names(text, expected):
    assert phones.looks_like_phone(text) is expected


@pytest.mark.parametrize(
    ("text", "prefixes"),
    [
        ("+44 7700", ["+447700"]),
        ("0044 77", ["+4477"]),
        ("07700 12", ["+44770012"]),
        ("447700", ["+447700", "+44447700"]),
        ("abc", []),
    ],
)
def test_partial_numbers_give_e164_prefixes(text, prefixes):
    assert phones.search_prefixes(text, region="GB") == prefixes


def test_numbers_are_shown_in_international_format():
    assert phones.format_national("+447700123456") == "+44 7700 123456"
    assert phones.format_national("") == ""
    assert phones.format_national("garbage") == "garbage"
