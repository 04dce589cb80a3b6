"""Imports store each phone's type with it (Contact.phone_type), as the contacts service does."""

from __future__ import annotations

import pytest

from contacts.models import Contact

pytestmark = pytest.mark.django_db

HEADER = "email,phone\n"


def test_created_contacts_get_the_type_of_their_number(run):
    job = run(HEADER + "ann@example.com,07400 123456\nbob@example.com,+44 20 7946 0000\n"
              "cy@example.com,\n")  # fmt: skip

    assert job.status == "done"
    types = dict(Contact.objects.values_list("email", "phone_type"))
    assert types == {"ann@example.com": "mobile", "bob@example.com": "fixed line",
                     "cy@example.com": ""}  # fmt: skip


def test_an_update_that_changes_the_phone_changes_its_type_and_one_without_keeps_it(run):
    run(HEADER + "ann@example.com,07400 123456\nbob@example.com,07400 654321\n")

    job = run(HEADER + "ann@example.com,+44 20 7946 0000\nbob@example.com,\n", mode="upsert")

    assert job.status == "done"
    ann, bob = (
        Contact.objects.get(email="ann@example.com"),
        Contact.objects.get(email="bob@example.com"),
    )
    assert (ann.phone, ann.phone_type) == ("+442079460000", "fixed line")
    assert (bob.phone, bob.phone_type) == ("+447400654321", "mobile")
