"""Erasing a contact removes their number and texts from the SMS tables."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from contacts.services.erasure import erase_contact
from dashboard.errors import SwitchboardError
from sms.gateways import sandbox
from sms.models import InboundMessage, Message, OptOut
from sms.services import credits
from sms.services.messages import send_due_messages, send_sms
from sms.services.optouts import add_opt_out

from .conftest import MOBILE

pytestmark = pytest.mark.django_db


def test_erasure_blanks_their_messages_and_forgets_their_number(
    funded, contact, staff_actor, admin_user
):
    from dashboard.actors import Actor

    send_sms(actor=staff_actor, contact=contact, text="Hi Alice, your code is ready")
    InboundMessage.objects.create(gateway="sandbox", sender=MOBILE, text="Thanks!", contact=contact)
    add_opt_out(actor=staff_actor, phone=MOBILE, reason="asked")
    erase_contact(actor=Actor.staff(admin_user), contact=contact)
    message = Message.objects.get()
    assert (message.to, message.text, message.contact) == ("", "[erased]", None)
    assert not InboundMessage.objects.exists()
    assert not OptOut.objects.exists()
    # The number stays blocked through the erasure's salted hash.
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, to=MOBILE, text="Hello again")
    assert caught.value.code == "suppressed"


def test_the_history_says_a_text_went_to_an_erased_contact(
    staff_client, funded, contact, staff_actor, admin_user
):
    from dashboard.actors import Actor

    send_sms(actor=staff_actor, contact=contact, text="Hi Alice")
    erase_contact(actor=Actor.staff(admin_user), contact=contact)
    page = staff_client.get("/sms/").content.decode()
    assert "erased contact" in page  # not an empty "To" cell


def test_texts_not_yet_sent_to_them_are_cancelled_and_their_credits_come_back(
    funded, contact, staff_actor, admin_user
):
    from dashboard.actors import Actor

    later = timezone.now() + dt.timedelta(hours=3)
    scheduled = send_sms(actor=staff_actor, contact=contact, text="Hi", schedule_at=later).message
    queued = send_sms(actor=staff_actor, contact=contact, text="Hello").message
    assert credits.get_balance() == Decimal("9.92")

    erase_contact(actor=Actor.staff(admin_user), contact=contact)

    Message.objects.filter(pk=scheduled.pk).update(send_after=timezone.now())
    assert send_due_messages().claimed == 0
    assert not sandbox.OUTBOX  # nothing goes out to an empty number
    for message in Message.objects.filter(pk__in=[scheduled.pk, queued.pk]):
        assert (message.status, message.to, message.text) == ("cancelled", "", "[erased]")
        assert message.events.filter(status="cancelled", detail__contains="erased").exists()
    assert credits.get_balance() == Decimal("10")


def test_a_number_they_shared_with_another_contact_stays_that_contacts(
    funded, contact, staff_actor, admin_user, system_actor
):
    from contacts.services.contacts import create_contact
    from dashboard.actors import Actor

    partner = create_contact(
        actor=system_actor, email="bob@example.com", phone=MOBILE, sms_consent="granted"
    )
    sent = send_sms(actor=staff_actor, contact=partner, text="Hi Bob").message
    later = timezone.now() + dt.timedelta(hours=3)
    waiting = send_sms(actor=staff_actor, contact=partner, text="Bye", schedule_at=later).message
    InboundMessage.objects.create(gateway="sandbox", sender=MOBILE, text="Ok", contact=partner)

    erase_contact(actor=Actor.staff(admin_user), contact=contact)

    # Bob's texts, his reply and his scheduled text are his, not the erased person's.
    assert Message.objects.get(pk=sent.pk).text == "Hi Bob"
    assert Message.objects.get(pk=waiting.pk).status == "scheduled"
    assert InboundMessage.objects.filter(contact=partner).count() == 1


def test_a_shared_number_on_the_stop_list_stays_on_it(
    funded, contact, staff_actor, admin_user, system_actor
):
    from contacts.services.contacts import create_contact
    from dashboard.actors import Actor

    partner = create_contact(actor=system_actor, email="bob@example.com", phone=MOBILE)
    add_opt_out(actor=staff_actor, phone=MOBILE, reason="replied STOP")

    erase_contact(actor=Actor.staff(admin_user), contact=contact)

    assert OptOut.objects.filter(phone=MOBILE).exists()
    with pytest.raises(SwitchboardError) as caught:
        send_sms(actor=staff_actor, contact=partner, text="Hello again")
    assert "opted out of texts" in caught.value.message


def test_a_providers_refusal_quoting_their_number_loses_the_number(
    funded, contact, staff_actor, admin_user
):
    from dashboard.actors import Actor
    from sms.models import MessageEvent

    message = send_sms(actor=staff_actor, contact=contact, text="Hi").message
    # What the worker records when Twilio refuses a number (error 21211 quotes it).
    refusal = f"Twilio refused the request (HTTP 400): The 'To' number {MOBILE} is not valid."
    Message.objects.filter(pk=message.pk).update(status="failed", error_message=refusal)
    MessageEvent.objects.create(message=message, status="failed", source="worker",
                                error_code="21211", detail=refusal)  # fmt: skip

    erase_contact(actor=Actor.staff(admin_user), contact=contact)

    message.refresh_from_db()
    assert MOBILE not in message.error_message and "is not valid" in message.error_message
    details = " ".join(message.events.values_list("detail", flat=True))
    assert MOBILE not in details and "is not valid" in details


def test_the_audit_trail_of_their_stop_and_start_replies_loses_their_number(contact, admin_user):
    from dashboard.actors import Actor
    from dashboard.models import AuditEntry
    from sms.gateways.base import InboundSms
    from sms.services.inbound import receive_inbound

    receive_inbound(gateway="sandbox", sms=InboundSms(sender=MOBILE, text="STOP", provider_id="a"))
    receive_inbound(gateway="sandbox", sms=InboundSms(sender=MOBILE, text="START", provider_id="b"))
    assert AuditEntry.objects.filter(actor_label__contains=MOBILE).count() == 2

    erase_contact(actor=Actor.staff(admin_user), contact=contact)

    labels = list(AuditEntry.objects.values_list("actor_label", flat=True))
    assert not [label for label in labels if MOBILE in label or MOBILE[1:] in label]
    assert labels.count("sms reply from [erased]") == 2
