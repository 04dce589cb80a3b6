"""send_sms: every check before a message is queued, credits reserved with the message."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from contacts.models import Interaction
from contacts.services.contacts import create_contact, update_contact
from contacts.services.fields import create_field
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from sms.models import CreditEntry, Message, Status
from sms.services import credits, optouts
from sms.services.messages import send_sms

from .conftest import LANDLINE, MOBILE

pytestmark = pytest.mark.django_db


def test_it_queues_a_message_and_reserves_its_credits(funded, contact, staff_actor):
    outcome = send_sms(
        actor=staff_actor, contact=contact, text="Hi {first_name}, your order shipped"
    )
    message = Message.objects.get()
    assert outcome.message == message
    assert (message.status, message.to, message.country, message.text) == (
        Status.PENDING, MOBILE, "GB", "Hi Alice, your order shipped",
    )  # fmt: skip
    assert (message.segments, message.encoding, message.price) == (1, "GSM-7", Decimal("0.04"))
    assert (message.actor_kind, message.actor_label) == ("staff", "sam")
    assert credits.get_balance() == Decimal("9.96")
    assert credits.ledger_total() == credits.get_balance()
    assert CreditEntry.objects.filter(message=message, kind="charge").get().amount == Decimal(
        "-0.04"
    )
    assert Interaction.objects.filter(contact=contact, kind="sms_sent").exists()
    assert AuditEntry.objects.filter(action="sms.send", object_id=str(message.pk)).exists()
    assert list(message.events.values_list("status", flat=True)) == ["pending"]


def test_a_dry_run_prices_the_message_and_writes_nothing(funded, contact, staff_actor):
    outcome = send_sms(actor=staff_actor, to="07400 123456", text="Prix: 5€ 😀", dry_run=True)
    assert outcome.message is None
    assert outcome.plan.as_dict() | {"balance_after": None} == {
        "to": MOBILE, "country": "GB", "kind": "transactional", "text": "Prix: 5€ 😀",
        "encoding": "UCS-2", "segments": 1, "ucs2_characters": ["😀"], "price": "0.0400",
        "balance_after": None, "number_type": "mobile", "send_after": None,
    }  # fmt: skip
    assert not Message.objects.exists()
    assert credits.get_balance() == Decimal("10")


def test_the_same_idempotency_key_twice_sends_once(funded, contact, staff_actor):
    first = send_sms(actor=staff_actor, contact=contact, text="Hi", idempotency_key="abc")
    again = send_sms(actor=staff_actor, contact=contact, text="Hi", idempotency_key="abc")
    assert again.replayed and again.message == first.message
    assert Message.objects.count() == 1
    assert credits.get_balance() == Decimal("9.96")


def test_a_number_links_to_the_contact_who_has_it(funded, contact, staff_actor):
    outcome = send_sms(actor=staff_actor, to="+44 7400 123456", text="Hi")
    assert outcome.message.contact == contact


def test_a_custom_field_the_contact_has_no_value_for_is_empty_not_unknown(
    funded, contact, staff_actor, system_actor
):
    # As in campaigns and as an empty first name: the field exists, this contact left it blank.
    create_field(actor=system_actor, name="Plan", type="text")
    outcome = send_sms(actor=staff_actor, contact=contact, text="Hi {first_name}, plan: {plan}.")
    assert outcome.message.text == "Hi Alice, plan: ."


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "12", "text": "Hi"}, "invalid_phone"),
        ({"to": "+44 7400 12345 6789", "text": "Hi"}, "invalid_phone"),
        ({"to": MOBILE, "text": "   "}, "empty_text"),
        ({"to": MOBILE, "text": "a" * 1531}, "text_too_long"),
        ({"to": LANDLINE, "text": "Hi"}, "not_mobile"),
        ({"to": MOBILE, "text": "Hi {nickname}"}, "unknown_placeholder"),
        ({"to": "", "text": "Hi"}, "no_recipient"),
        ({"to": MOBILE, "text": "Hi", "kind": "spam"}, "invalid_kind"),
    ],
)
def test_it_refuses_bad_input_with_a_clear_reason_and_keeps_the_credits(
    funded, staff_actor, kwargs, code
):
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, **kwargs)
    assert caught.value.code == code
    assert caught.value.message
    assert not Message.objects.exists()
    assert credits.get_balance() == Decimal("10")


def test_ten_segments_is_the_limit(funded, staff_actor):
    send_sms(actor=staff_actor, to=MOBILE, text="a" * 1530)
    assert Message.objects.get().segments == 10


def test_a_non_mobile_number_needs_confirmation(funded, staff_actor):
    outcome = send_sms(actor=staff_actor, to=LANDLINE, text="Hi", allow_non_mobile=True)
    assert outcome.message.to == LANDLINE


def test_it_refuses_a_number_that_replied_stop_even_for_transactional(funded, contact, staff_actor):
    optouts.add_opt_out(actor=staff_actor, phone=MOBILE, reason="asked on the phone")
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, contact=contact, text="Your code")
    assert caught.value.code == "suppressed"
    assert "asked on the phone" in caught.value.message


def test_staff_changing_the_stop_list_say_so_in_the_history_of_each_holder(contact, staff_actor):
    # Two contacts share the number (a family phone): as a STOP reply does, staff adding or
    # removing it writes in both histories why texts to them are refused, then allowed again.
    other = create_contact(actor=staff_actor, email="partner@example.com", phone=MOBILE)
    optouts.add_opt_out(actor=staff_actor, phone=MOBILE, reason="asked on the phone")
    optouts.add_opt_out(actor=staff_actor, phone=MOBILE, reason="again")  # on it already
    optouts.remove_opt_out(actor=staff_actor, phone=MOBILE, reason="asked to hear from us")
    for holder in (contact, other):
        lines = list(
            Interaction.objects.filter(contact=holder, kind="consent")
            .order_by("id")
            .values_list("description", flat=True)
        )
        assert lines == [
            f"Opted out of texts by {staff_actor.label}: asked on the phone",
            f"Opted back in to texts by {staff_actor.label}: asked to hear from us",
        ]


def test_the_opt_out_date_is_the_sites_day_not_utcs(funded, contact, staff_actor, settings):
    settings.TIME_ZONE = "Pacific/Auckland"  # 13 hours ahead of UTC in December
    row = optouts.add_opt_out(actor=staff_actor, phone=MOBILE, reason="replied STOP")
    row.created_at = dt.datetime(2026, 12, 7, 20, 0, tzinfo=dt.UTC)  # 8 Dec, 09:00 there
    row.save(update_fields=["created_at"])
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, contact=contact, text="Your code")
    assert "opted out of texts on 08 Dec 2026" in caught.value.message


def test_a_satellite_phone_is_texted_at_the_price_for_every_other_country(funded, staff_actor):
    # Iridium's +881 6 mobiles have no country: the message is stored (on PostgreSQL too, whose
    # two-letter country column refused phonenumbers' "001") and priced at "*".
    message = send_sms(actor=staff_actor, to="+881631234567", text="Hi").message
    message.refresh_from_db()
    assert (message.to, message.country) == ("+881631234567", "")
    assert message.price == credits.price_per_segment("*")


def test_marketing_needs_sms_consent(funded, contact, staff_actor, system_actor):
    update_contact(actor=system_actor, contact=contact, sms_consent="withdrawn")
    contact.refresh_from_db()
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, contact=contact, text="Sale!", kind="marketing")
    assert caught.value.code == "no_consent"
    # Transactional texts do not need marketing consent.
    send_sms(actor=staff_actor, contact=contact, text="Your parcel", kind="transactional")


def test_marketing_is_refused_after_a_permanent_unsubscribe(
    funded, contact, staff_actor, system_actor
):
    update_contact(actor=system_actor, contact=contact, unsubscribed=True)
    contact.refresh_from_db()
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, contact=contact, text="Sale!", kind="marketing")
    assert caught.value.code == "unsubscribed"


def test_marketing_to_a_bare_number_is_refused(funded, staff_actor):
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, to="+33612345678", text="Sale!", kind="marketing")
    assert caught.value.code == "no_consent"


def test_marketing_in_quiet_hours_waits_until_they_end(funded, contact, staff_actor, settings):
    settings.SMS_QUIET_HOURS = "00:00-23:59"  # always quiet, ends 23:59 London time
    outcome = send_sms(actor=staff_actor, contact=contact, text="Sale!", kind="marketing")
    message = outcome.message
    assert message.status == Status.SCHEDULED
    local_end = message.send_after.astimezone(dt.UTC)
    assert local_end > timezone.now()
    # Transactional texts ignore quiet hours.
    assert (
        send_sms(actor=staff_actor, contact=contact, text="Code").message.status == Status.PENDING
    )


def test_it_refuses_when_credits_run_out_and_creates_nothing(priced, contact, staff_actor):
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, contact=contact, text="Hi")
    assert caught.value.code == "insufficient_credits"
    assert not Message.objects.exists()
    assert credits.get_balance() == 0


def test_a_dry_run_also_says_when_credits_would_not_cover_it(priced, contact, staff_actor):
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, contact=contact, text="Hi", dry_run=True)
    assert caught.value.code == "insufficient_credits"


def test_a_country_without_a_price_uses_the_fallback_price(funded, staff_actor):
    outcome = send_sms(actor=staff_actor, to="+5511987654321", text="Oi")
    assert outcome.message.price == Decimal("0.1")


def test_price_is_per_segment(funded, staff_actor):
    outcome = send_sms(actor=staff_actor, to=MOBILE, text="ê" * 71)
    assert (outcome.message.segments, outcome.message.price) == (2, Decimal("0.08"))


def test_an_agent_send_records_the_agent_and_its_prompt_version(funded, contact):
    from dashboard.actors import Actor

    agent = Actor.agent(7, "Reminder bot", prompt_version_id=3)
    message = send_sms(actor=agent, contact=contact, text="Reminder").message
    assert (message.actor_kind, message.actor_ref, message.prompt_version_id) == ("agent", "7", 3)
