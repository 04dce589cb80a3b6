"""Texts people send us: STOP/START keywords and replies kept in the contact's history."""

from __future__ import annotations

import contextlib

from django.db import IntegrityError, transaction

from contacts.models import Contact, InteractionKind
from contacts.phones import Phone, normalise_phone
from contacts.services.history import log_interaction
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from sms.gateways.base import InboundSms
from sms.models import InboundMessage, OptOut, provider_key
from sms.services.optouts import OPT_IN, OPT_OUT, keyword_action


def _sender_phone(raw: str) -> Phone | None:
    """The sender's number. Many providers give it in international format without the "+"
    ("33612345678"): read as a national number of our default region that is no number at
    all, and a STOP from abroad would be ignored."""
    with contextlib.suppress(SwitchboardError):
        return normalise_phone(raw)
    if raw.strip().isdigit():
        with contextlib.suppress(SwitchboardError):
            return normalise_phone("+" + raw.strip())
    return None


def receive_inbound(*, gateway: str, sms: InboundSms) -> InboundMessage:
    """Store an inbound text once (providers retry), act on a STOP/START keyword, and log it
    on the sender's contact."""
    phone = _sender_phone(sms.sender or "")
    sender = phone.e164 if phone else (sms.sender or "")[:16]
    provider_id = provider_key(sms.provider_id)  # as stored: a retry finds the first
    if provider_id:
        seen = InboundMessage.objects.filter(gateway=gateway, provider_id=provider_id).first()
        if seen is not None:
            return seen
    actor = Actor.system(f"sms reply from {sender}")
    action = keyword_action(sms.text) if phone else ""
    # Two contacts may share a number (a couple, a family phone): the text came from both
    # their number, and a STOP stops texts to both, so each one's history gets it.
    holders = list(Contact.objects.filter(phone=sender).order_by("created_at")) if phone else []
    contact = holders[0] if holders else None
    try:
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                gateway=gateway, provider_id=provider_id, sender=sender,
                text=sms.text[:2000], contact=contact, action=action,
            )  # fmt: skip
            if action == OPT_OUT:
                row, created = OptOut.objects.get_or_create(
                    phone=sender,
                    defaults={"reason": f"replied “{sms.text.strip()[:40]}”", "actor_kind": actor.kind,
                              "actor_label": actor.label},
                )  # fmt: skip
                if created:
                    audit.record(actor=actor, action="sms.opt_out", obj=row,
                                 contact_id=contact.pk if contact else None)  # fmt: skip
            elif action == OPT_IN:
                row = OptOut.objects.filter(phone=sender).first()
                if row is not None:
                    audit.record(actor=actor, action="sms.opt_in", obj=row,
                                 contact_id=contact.pk if contact else None,
                                 changes={"opted_out": [row.reason, None]})  # fmt: skip
                    row.delete()
            note = {OPT_OUT: " (opted out of texts)", OPT_IN: " (opted back in to texts)"}
            for holder in holders:
                log_interaction(
                    contact=holder, actor=actor, kind=InteractionKind.SMS_RECEIVED,
                    description=f"SMS reply: {sms.text.strip()}"[:480] + note.get(action, ""),
                    data={"inbound_id": inbound.pk, "action": action},
                )  # fmt: skip
    except IntegrityError:
        # The same inbound message delivered twice at once: the other request stored it.
        return InboundMessage.objects.get(gateway=gateway, provider_id=provider_id)
    return inbound
