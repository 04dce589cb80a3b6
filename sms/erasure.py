"""Erasure (GDPR): remove a person's number and texts from the SMS tables.

Registered with ``contacts.services.erasure`` from ``SmsConfig.ready``. Message rows stay (the
credit ledger points at them) but lose the number and the text; inbound texts, one-time-code
challenges and a STOP-list row for the number go. The number stays suppressed through the
salted hash the erasure keeps, which every send checks.
"""

from __future__ import annotations

from django.db.models import Q

from sms.models import InboundMessage, Message, OptOut, OtpChallenge

ERASED = "[erased]"


def scrub_sms(subject) -> None:
    mine = Q(contact_id=subject.contact_id)
    if subject.phone:
        mine |= Q(to=subject.phone)
    Message.objects.filter(mine).update(to="", text=ERASED, secret="", contact=None)
    inbound = Q(contact_id=subject.contact_id)
    if subject.phone:
        inbound |= Q(sender=subject.phone)
    InboundMessage.objects.filter(inbound).delete()
    if subject.phone:
        OtpChallenge.objects.filter(phone=subject.phone).delete()
        OptOut.objects.filter(phone=subject.phone).delete()
