"""The STOP list: numbers that must not be texted, whatever the message.

Replies of STOP (and its synonyms) add a number, START/UNSTOP remove it; staff can do either
with a reason. Every send checks it first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Q, QuerySet

from contacts.models import Contact, InteractionKind
from contacts.phones import normalise_phone, search_prefixes
from contacts.services.history import log_interaction
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from sms.models import OptOut

# Whole replies, compared without case, accents, spaces, punctuation and emoji ("Stop all",
# "«STOP»", "stop 🛑", "ＳＴＯＰ" from a full-width keyboard, "Opt-Out"). English as carriers
# and Twilio use it, plus the words people reply in elsewhere in Europe: STOPP (German,
# Scandinavian), ARRÊT (French), BAJA (Spanish).
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "STOPP",
     "ARRET", "BAJA"}
)  # fmt: skip
START_WORDS = frozenset({"START", "UNSTOP"})
OPT_OUT, OPT_IN = "opt_out", "opt_in"
_NOT_LETTERS = re.compile(r"[\W_]+")


def _words(text: str) -> list[str]:
    # NFKC folds full-width and other compatibility forms to plain letters; NFKD then splits
    # accents off so they can be dropped; format characters (zero-width spaces, direction
    # marks some phones add) go too. Each word loses its punctuation and emoji, inside it too:
    # "opt-out" and "un-subscribe" are how many people spell the keyword.
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text or ""))
    kept = "".join(ch for ch in folded if unicodedata.category(ch) not in ("Mn", "Cf"))
    return [word for raw in kept.upper().split() if (word := _NOT_LETTERS.sub("", raw))]


def keyword_action(text: str) -> str:
    """``opt_out`` / ``opt_in`` when the whole reply is a keyword ("  stop!", "Stop all",
    "«Arrêt»", "STOP. STOP.", "Start start"), else ""; a sentence that merely contains one ("please stop")
    is a reply."""
    words = _words(text)
    joined = "".join(words)
    if joined in STOP_WORDS or (words and all(word in STOP_WORDS for word in words)):
        return OPT_OUT
    if joined in START_WORDS or (words and all(word in START_WORDS for word in words)):
        return OPT_IN
    return ""


def _phone(raw: str) -> str:
    phone = normalise_phone(raw)
    if phone is None:
        raise SwitchboardError("invalid_phone", "Enter a phone number.", field="phone")
    return phone.e164


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise SwitchboardError(
            "reason_required", "Say why (it is kept with the change).", field="reason"
        )
    return reason[:200]


def opt_out_for(phone: str) -> OptOut | None:
    return OptOut.objects.filter(phone=phone).first()


def search_opt_outs(query: str) -> QuerySet[OptOut]:
    """The STOP list, newest first; ``query`` finds a number however it is typed (07400…,
    +44 7400…, 447400…) or words of the reason."""
    rows = OptOut.objects.order_by("-created_at")
    if not query:
        return rows
    if "\x00" in query:
        # No stored value holds a NUL, and PostgreSQL refuses even to compare one (a 500).
        return rows.none()
    match = Q(reason__icontains=query)
    for prefix in search_prefixes(query) if any(ch.isdigit() for ch in query) else []:
        match |= Q(phone__startswith=prefix)
    return rows.filter(match)


def opted_out(phones: Iterable[str]) -> set[str]:
    """The subset of these E.164 numbers on the STOP list, in one query."""
    phones = list(phones)
    if not phones:
        return set()
    if connection.vendor == "postgresql":
        # One array parameter: an IN list of a whole batch costs more to build than to answer.
        table = connection.ops.quote_name(OptOut._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT phone FROM {table} WHERE phone = ANY(%s)", [phones])  # noqa: S608
            return {row[0] for row in cursor.fetchall()}
    return set(OptOut.objects.filter(phone__in=phones).values_list("phone", flat=True))


@transaction.atomic
def add_opt_out(*, actor: Actor, phone: str, reason: str) -> OptOut:
    e164 = _phone(phone)
    reason = _reason(reason)
    row, created = OptOut.objects.get_or_create(
        phone=e164,
        defaults={
            "reason": reason, "actor_kind": actor.kind, "actor_user_id": actor.user_id,
            "actor_ref": actor.ref, "actor_label": actor.label,
        },
    )  # fmt: skip
    if created:
        audit.record(actor=actor, action="sms.opt_out", obj=row, changes={"reason": [None, reason]})
        _log_on_holders(actor, e164, f"Opted out of texts by {actor.label}: {reason}")
    return row


def _log_on_holders(actor: Actor, e164: str, description: str) -> None:
    """A line in the history of every contact with this number, as a STOP reply writes: the
    history then says why texts to them are refused (or allowed again)."""
    for contact in Contact.objects.filter(phone=e164):
        log_interaction(
            contact=contact, actor=actor, kind=InteractionKind.CONSENT,
            description=description[:480], data={"phone": e164},
        )  # fmt: skip


@transaction.atomic
def remove_opt_out(*, actor: Actor, phone: str, reason: str) -> bool:
    """Allow texting this number again; False if it was not on the list."""
    e164 = _phone(phone)
    reason = _reason(reason)
    row = OptOut.objects.filter(phone=e164).first()
    if row is None:
        return False
    audit.record(
        actor=actor, action="sms.opt_in", obj=row,
        changes={"opted_out": [row.reason, None], "reason": [None, reason]},
    )  # fmt: skip
    row.delete()
    _log_on_holders(actor, e164, f"Opted back in to texts by {actor.label}: {reason}")
    return True
