"""Contact.phone_type: the number's type, set wherever a phone is normalised, and backfilled."""

from __future__ import annotations

import importlib
import random

import phonenumbers
import pytest
from django.apps import apps

from contacts.imports.rows import PhoneCleaner
from contacts.models import Contact
from contacts.phones import normalise_phone
from contacts.services.contacts import create_contact, update_contact
from dashboard.errors import SwitchboardError
from sms.services.lookup import describe


def random_numbers(seed: str, count: int) -> list[str]:
    rng = random.Random(seed)
    codes = ["1", "44", "33", "49", "61", "7", "39", "81", "55", "91", "54"]
    return [f"+{rng.choice(codes)}{rng.randint(2, 9)}{rng.randint(0, 10**9 - 1):09d}"[: rng.randint(9, 14)]
            for _ in range(count)]  # fmt: skip


def test_normalising_gives_validity_and_the_type_that_phonenumbers_gives():
    checked = 0
    for text in random_numbers("types", 4000):
        number = phonenumbers.parse(text, None)
        try:
            phone = normalise_phone(text)
        except SwitchboardError:
            assert not phonenumbers.is_valid_number(number), text
            continue
        assert phonenumbers.is_valid_number(number), text
        assert phone.type == describe(phone.e164).type, text
        checked += 1
    assert checked > 200  # enough valid ones to mean something


@pytest.mark.parametrize("region", ["GB", "FR", "US", "DE"])
def test_the_import_fast_path_gives_the_same_type_as_the_exact_path(region):
    cleaner = PhoneCleaner(region)
    code = phonenumbers.country_code_for_region(region)
    rng = random.Random(region)
    checked = 0
    for _ in range(3000):
        digits = f"{rng.randint(1, 9)}{rng.randint(0, 10**9 - 1):09d}"[: rng.randint(9, 11)]
        text = rng.choice([f"0{digits}", f"+{code}{digits}", f"00{code} {digits}"])
        try:
            exact = normalise_phone(text, region=region)
        except SwitchboardError:
            continue
        fast = cleaner.clean(text)
        assert (fast.e164, fast.region, fast.type) == (exact.e164, exact.region, exact.type), text
        checked += 1
    assert checked > 50


@pytest.mark.django_db
def test_the_contacts_service_stores_the_type_with_the_phone(system_actor):
    contact = create_contact(actor=system_actor, email="a@example.com", phone="+447400123456")
    assert Contact.objects.get(pk=contact.pk).phone_type == "mobile"

    update_contact(actor=system_actor, contact=contact, phone="+442079460000")
    assert Contact.objects.get(pk=contact.pk).phone_type == "fixed line"

    update_contact(actor=system_actor, contact=contact, phone="")
    assert Contact.objects.get(pk=contact.pk).phone_type == ""


@pytest.mark.django_db
def test_the_backfill_types_existing_numbers_and_leaves_empty_phones_alone(system_actor):
    mobile = create_contact(actor=system_actor, email="m@example.com", phone="+33612345678")
    landline = create_contact(actor=system_actor, email="l@example.com", phone="+442079460000")
    none = create_contact(actor=system_actor, email="n@example.com")
    Contact.objects.update(phone_type="")  # as before the column existed

    migration = importlib.import_module("contacts.migrations.0009_backfill_contact_phone_type")
    migration.CHUNK = 2  # several pages
    migration.backfill(apps, None)

    types = dict(Contact.objects.values_list("pk", "phone_type"))
    assert types == {mobile.pk: "mobile", landline.pk: "fixed line", none.pk: ""}


@pytest.mark.django_db
def test_a_contact_with_a_satellite_phone_is_stored_with_no_country(system_actor):
    # phonenumbers' region for +881/+870 is "001": on PostgreSQL it broke the write (a 500).
    contact = create_contact(actor=system_actor, email="ship@example.com", phone="+881631234567")
    contact.refresh_from_db()
    assert (contact.phone, contact.phone_country, contact.phone_type) == (
        "+881631234567", "", "mobile",
    )  # fmt: skip
    fast = PhoneCleaner("GB").clean("+881 6 312 34567")
    assert (fast.e164, fast.region) == ("+881631234567", "")
