"""contacts.services.suppression: salted hashes of people who must not come back."""

from __future__ import annotations

import pytest

from contacts.models import Suppression, SuppressionKind
from contacts.services import contacts as contact_service
from contacts.services import suppression
from dashboard.errors import SwitchboardError

pytestmark = pytest.mark.django_db


def test_it_stores_only_salted_hashes(settings):
    suppression.suppress(email="gone@example.com", phone="+447700123456", reason="erased")

    stored = list(Suppression.objects.values_list("kind", "value_hash", "reason"))
    assert len(stored) == 2
    # Neither the address nor the number is stored (a 4-digit piece of the number could turn
    # up in a random hex hash by chance; the whole number cannot, in practice).
    assert all("gone@example.com" not in value and "447700123456" not in value
               for _, value, _ in stored)  # fmt: skip
    assert all(len(value) == 64 and int(value, 16) >= 0 for _, value, _ in stored)
    assert {kind for kind, _, _ in stored} == {"email", "phone"}

    settings.SUPPRESSION_SALT = "another salt"
    assert suppression.suppression_hash(SuppressionKind.EMAIL, "gone@example.com") not in {
        value for _, value, _ in stored
    }


def test_suppressing_twice_keeps_one_row_and_the_first_reason():
    suppression.suppress(email="gone@example.com", reason="unsubscribed")
    suppression.suppress(email="gone@example.com", reason="erased")

    assert Suppression.objects.get().reason == "unsubscribed"


def test_it_says_why_an_email_or_phone_is_suppressed():
    suppression.suppress(email="gone@example.com", reason="erased")
    suppression.suppress(phone="+447700123456", reason="unsubscribed")

    assert suppression.suppression_reason(email="gone@example.com") == "erased"
    assert suppression.suppression_reason(phone="+447700123456") == "unsubscribed"
    assert suppression.suppression_reason(email="kept@example.com", phone="+447700123457") is None
    assert suppression.suppression_reason() is None


def test_it_checks_a_whole_batch_in_one_query(django_assert_num_queries):
    suppression.suppress(email="a@example.com", reason="erased")
    suppression.suppress(email="c@example.com", reason="erased")

    with django_assert_num_queries(1):
        found = suppression.suppressed_hashes(
            SuppressionKind.EMAIL, ["a@example.com", "b@example.com", "c@example.com", ""]
        )

    assert found == {"a@example.com", "c@example.com"}


def test_a_suppressed_person_cannot_be_added_again(staff_actor):
    suppression.suppress(email="gone@example.com", reason="erased")

    with pytest.raises(SwitchboardError) as caught:
        contact_service.upsert_contact(actor=staff_actor, email="Gone@Example.com")

    assert caught.value.code == "suppressed"
    assert caught.value.details == {"reason": "erased"}
    assert "cannot be added again" in caught.value.message
