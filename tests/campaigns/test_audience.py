"""Counting a campaign's audience: who is left out and why, placeholders, cost by country."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contacts.models import Tag
from contacts.services.contacts import update_contact
from contacts.services.fields import create_field
from contacts.services.segments import delete_segment
from dashboard.errors import SwitchboardError
from sms.campaigns.services.audience import screen
from sms.campaigns.services.campaigns import start_campaign

from .conftest import SYSTEM, person

pytestmark = pytest.mark.django_db


def test_it_counts_the_audience_and_each_exclusion(audience):
    result = screen(kind="marketing", audience_kind="segment",
                    audience_id=audience["segment"].pk, text="Black Friday at noon!")  # fmt: skip

    assert result.audience == 9
    assert result.count == 4
    assert result.excluded == {
        "invalid_phone": 2, "duplicate_phone": 0, "suppressed": 1, "unsubscribed": 1,
        "no_consent": 1,
    }  # fmt: skip
    assert sorted(c.phone for c in result.recipients) == [
        "+12025550123", "+33612345678", "+447400100001", "+447400100002",
    ]  # fmt: skip


def test_of_two_contacts_sharing_a_number_the_one_who_consented_gets_the_text(balance):
    # A household phone. The audience is read in id order: the first of the three never
    # consented, the other two did.
    household = sorted(
        (person(f"{name}@example.com", "+447400100009") for name in ("ann", "ben", "cat")),
        key=lambda contact: contact.pk,
    )
    update_contact(actor=SYSTEM, contact=household[0], sms_consent="unknown")
    tag = Tag.objects.get(name="black-friday")

    result = screen(kind="marketing", audience_kind="tag", audience_id=tag.pk, text="Hi {email}")

    assert [r.text for r in result.recipients] == [f"Hi {household[1].email}"]
    assert (result.excluded["no_consent"], result.excluded["duplicate_phone"]) == (1, 1)


def test_transactional_texts_ignore_consent_but_not_opt_outs(audience):
    result = screen(kind="transactional", audience_kind="tag", audience_id=audience["tag"].pk,
                    text="Your order shipped")  # fmt: skip

    assert result.count == 6
    assert result.excluded["suppressed"] == 1
    assert result.excluded["no_consent"] == result.excluded["unsubscribed"] == 0


def test_it_prices_each_destination_country(audience):
    result = screen(kind="marketing", audience_kind="tag", audience_id=audience["tag"].pk,
                    text="Sale")  # fmt: skip

    # GB 0.04, FR 0.075, US 0.01 a segment (the default prices).
    assert result.cost_by_country == {
        "GB": {"recipients": 2, "cost": Decimal("0.0800")},
        "FR": {"recipients": 1, "cost": Decimal("0.0750")},
        "US": {"recipients": 1, "cost": Decimal("0.0100")},
    }
    assert result.cost == Decimal("0.1650")
    assert result.balance_after == Decimal("99.8350")


def test_segments_per_message_is_the_most_any_recipient_needs(audience):
    from contacts.models import Contact

    Contact.objects.filter(pk=audience["alice"].pk).update(first_name="A" * 100)
    text = "Hi {first_name}, " + "x" * 60

    result = screen(kind="marketing", audience_kind="tag", audience_id=audience["tag"].pk,
                    text=text)  # fmt: skip

    assert result.max_segments == 2
    alice = next(c for c in result.recipients if c.phone == "+447400100001")
    bob = next(c for c in result.recipients if c.phone == "+447400100002")
    assert (alice.segments, bob.segments) == (2, 1)
    assert bob.text == "Hi Bob, " + "x" * 60
    assert result.cost == Decimal("0.0800") + Decimal("0.0400") + Decimal("0.0750") + Decimal(
        "0.0100"
    )


def test_custom_fields_fill_placeholders_and_a_missing_value_is_blank(audience):
    create_field(actor=SYSTEM, name="City", type="text")
    update_contact(actor=SYSTEM, contact=audience["alice"], fields={"city": "Leeds"})

    result = screen(kind="marketing", audience_kind="tag", audience_id=audience["tag"].pk,
                    text="See you in {city}!")  # fmt: skip

    texts = {c.phone: c.text for c in result.recipients}
    assert texts["+447400100001"] == "See you in Leeds!"
    assert texts["+447400100002"] == "See you in !"


def test_it_refuses_an_unknown_placeholder(audience):
    with pytest.raises(SwitchboardError) as exc:
        screen(kind="marketing", audience_kind="tag", audience_id=audience["tag"].pk,
               text="Hi {frist_name}")  # fmt: skip
    assert exc.value.code == "unknown_placeholder"
    assert "{frist_name}" in exc.value.message


def test_it_refuses_an_audience_where_nobody_can_be_texted(audience):
    from contacts.services.tags import tag_contact

    tag_contact(actor=SYSTEM, contact=audience["landline"], tag_name="nobody")
    tag_contact(actor=SYSTEM, contact=audience["stopped"], tag_name="nobody")
    from contacts.models import Tag

    with pytest.raises(SwitchboardError) as exc:
        start_campaign(actor=SYSTEM, text="Hi", audience_kind="tag",
                       audience_id=Tag.objects.get(name="nobody").pk)  # fmt: skip
    assert exc.value.code == "empty_audience"
    assert "1 no valid mobile number" in exc.value.message
    assert "1 opted out or suppressed" in exc.value.message


def test_it_says_so_when_the_segment_no_longer_exists(audience):
    segment_id = audience["segment"].pk
    delete_segment(actor=SYSTEM, segment=audience["segment"])

    with pytest.raises(SwitchboardError) as exc:
        start_campaign(actor=SYSTEM, text="Hi", audience_kind="segment", audience_id=segment_id)
    assert exc.value.code == "unknown_segment"
    assert "no longer exists" in exc.value.message


def test_it_refuses_when_the_balance_does_not_cover_it(audience):
    from sms.models import CreditAccount

    CreditAccount.objects.update(balance=Decimal("0.1"))
    with pytest.raises(SwitchboardError) as exc:
        start_campaign(actor=SYSTEM, text="Hi", audience_kind="tag", audience_id=audience["tag"].pk)
    assert exc.value.code == "insufficient_credits"
    assert "needs 0.165" in exc.value.message and "balance is 0.1" in exc.value.message


def test_a_dry_run_answers_counts_and_cost_and_writes_nothing(audience):
    from sms.campaigns.models import Campaign

    outcome = start_campaign(actor=SYSTEM, text="Hi", audience_kind="tag",
                             audience_id=audience["tag"].pk, dry_run=True)  # fmt: skip

    assert outcome.campaign is None
    assert outcome.screening.as_dict()["recipients"] == 4
    assert outcome.screening.as_dict()["cost"] == "0.1650"
    assert not Campaign.objects.exists()


def test_a_contact_whose_phone_type_is_not_stored_is_screened_by_parsing(audience):
    from contacts.models import Contact

    Contact.objects.update(phone_type="")  # contacts from before the column, say
    result = screen(kind="marketing", audience_kind="segment",
                    audience_id=audience["segment"].pk, text="Black Friday at noon!")  # fmt: skip

    assert result.count == 4
    assert result.excluded["invalid_phone"] == 2


def test_time_zones_from_the_stored_type_are_what_phonenumbers_says():
    import random

    import phonenumbers
    from phonenumbers import timezone as pn_timezone

    from contacts.phones import SMS_CAPABLE, TYPE_LABELS
    from sms.campaigns.services.audience import _stored_mobile

    rng = random.Random(7)
    checked = 0
    for _ in range(5000):
        code = rng.choice(["1", "7", "44", "61", "55", "52", "62", "33", "49", "86", "91"])
        number = phonenumbers.parse(f"+{code}{rng.randint(10**8, 10**11)}", None)
        kind = phonenumbers.number_type(number)
        if kind not in SMS_CAPABLE:
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        region = phonenumbers.region_code_for_number(number)
        mobile = _stored_mobile(e164, region, TYPE_LABELS[kind])
        expected = tuple(z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
        assert (mobile.region, mobile.time_zones) == (region, expected), e164
        checked += 1
    assert checked > 150


def test_it_refuses_a_text_longer_than_a_single_send_may_be(audience, settings):
    settings.SMS_MAX_SEGMENTS = 3
    with pytest.raises(SwitchboardError) as exc:
        start_campaign(actor=SYSTEM, text="x" * 460, audience_kind="tag",
                       audience_id=audience["tag"].pk, dry_run=True)  # fmt: skip
    assert exc.value.code == "text_too_long"
    assert "needs 4 segments; the limit is 3" in exc.value.message


def test_it_refuses_a_text_that_placeholders_make_too_long_for_someone(audience, settings):
    from contacts.models import Contact
    from sms.campaigns.models import Campaign

    settings.SMS_MAX_SEGMENTS = 1
    Contact.objects.filter(pk=audience["alice"].pk).update(first_name="A" * 100)

    with pytest.raises(SwitchboardError) as exc:
        start_campaign(actor=SYSTEM, text="Hi {first_name}, " + "x" * 60, audience_kind="tag",
                       audience_id=audience["tag"].pk)  # fmt: skip

    assert exc.value.code == "text_too_long"
    assert "needs 2 segments" in exc.value.message and "1 recipient" in exc.value.message
    assert not Campaign.objects.exists()
