"""Erasure (GDPR): remove a person's number and texts from the SMS tables.

Registered with ``contacts.services.erasure`` from ``SmsConfig.ready``. Message rows stay (the
credit ledger points at them) but lose the number and the text; inbound texts, one-time-code
challenges and a STOP-list row for the number go. The number stays suppressed through the
salted hash the erasure keeps, which every send checks. A provider's error quoting the number
keeps its words, not the number. Texts not sent yet (queued, scheduled, or held in a paused
campaign) are cancelled and their credits refunded: blanked, they would otherwise still go
out, to an empty number, and be charged. A number another contact holds too is theirs as
well: its texts, replies and STOP-list row that are not the person's stay.
"""

from __future__ import annotations

from django.db.models import Q, Value
from django.db.models.functions import Replace
from django.utils import timezone

from contacts.models import Contact
from dashboard.actors import Actor
from dashboard.models import AuditEntry
from sms.models import InboundMessage, Message, MessageEvent, OptOut, OtpChallenge, Status
from sms.services import credits

ERASED = "[erased]"
UNSENT = [Status.PENDING, Status.SCHEDULED, Status.HELD]
NOT_SENT_REASON = "The contact was erased before this message was sent; it was not sent."


def _cancel_unsent(mine: Q) -> None:
    # Locked: a worker cannot claim one of them between this look-up and the cancel.
    unsent = list(
        Message.objects.select_for_update().filter(mine, status__in=UNSENT).only("pk", "price")
    )
    if not unsent:
        return
    now = timezone.now()
    Message.objects.filter(pk__in=[m.pk for m in unsent]).update(
        status=Status.CANCELLED, error_code="erased", error_message=NOT_SENT_REASON, secret="",
        claim=None, final_at=now, updated_at=now,
    )  # fmt: skip
    MessageEvent.objects.bulk_create(
        MessageEvent(message_id=m.pk, status=Status.CANCELLED, at=now, source="system",
                     error_code="erased", detail=NOT_SENT_REASON)
        for m in unsent
    )  # fmt: skip
    credits.refund(messages=unsent, actor=Actor.system("erasure"), note="contact erased")


def _unquote_numbers(mine: Q, phones: set[str]) -> None:
    """A provider's refusal can quote the number ("The 'To' number +44… is not valid"): the
    reason stays readable, the number goes."""
    messages = Message.objects.filter(mine).values("pk")
    for phone in phones:
        for quoted in (phone, phone.removeprefix("+")):
            Message.objects.filter(mine, error_message__contains=quoted).update(
                error_message=Replace("error_message", Value(quoted), Value(ERASED))
            )
            MessageEvent.objects.filter(message__in=messages, detail__contains=quoted).update(
                detail=Replace("detail", Value(quoted), Value(ERASED))
            )


def number_is_theirs(subject) -> bool:
    """Whether the person's number is theirs alone: one another contact holds too (a shared
    family phone) stays that contact's, with its texts, replies and place on the STOP list."""
    if not subject.phone:
        return False
    return not (Contact.objects.filter(phone=subject.phone).exclude(pk=subject.contact_id).exists())


def scrub_sms(subject) -> None:
    theirs = number_is_theirs(subject)
    mine = Q(contact_id=subject.contact_id)
    if theirs:
        mine |= Q(to=subject.phone)
    _cancel_unsent(mine)
    _unquote_numbers(mine, {subject.phone, *subject.former_phones} - {""})
    Message.objects.filter(mine).update(to="", text=ERASED, secret="", contact=None)
    inbound = Q(contact_id=subject.contact_id)
    if theirs:
        inbound |= Q(sender=subject.phone)
    InboundMessage.objects.filter(inbound).delete()
    if theirs:
        OtpChallenge.objects.filter(phone=subject.phone).delete()
        OptOut.objects.filter(phone=subject.phone).delete()
    # A reply's STOP or START is audited as done by "sms reply from <their number>".
    numbers = {*subject.former_phones, *([subject.phone] if theirs else [])}
    for phone in numbers:
        AuditEntry.objects.filter(actor_label__contains=phone).update(
            actor_label=Replace("actor_label", Value(phone), Value(ERASED))
        )
