"""Right to erasure (GDPR): one call removes a person and every trace of their personal data.

What goes: the contact row and, with it, field values, tag and list memberships, metadata and
the interaction log; the lines in other contacts' logs that name them ("not a duplicate of …");
personal values in the audit trail (``object_repr`` and the before/after values of every entry
about the contact); segment conditions quoting their email or phone, which then match nobody
(``contacts.segments.erasure``; the result names those segments for staff to review); and
whatever other apps hold, through scrubbers they register. What stays: salted hashes of the
emails and phones they had (current, changed since, merged in; not one another contact holds
now) in ``Suppression`` (so agents and imports cannot add the person again) and one
audit entry saying that an erasure happened, without personal data.

Other apps holding personal data (SMS message history, approval payloads, …) register a
scrubber from their ``AppConfig.ready``::

    from contacts.services.erasure import register_scrubber

    @register_scrubber
    def scrub_messages(subject: ErasureSubject) -> None:
        Message.objects.filter(contact_id=subject.contact_id).update(body="", to="")

Scrubbers run inside the erasure's transaction, before the contact row is deleted (so foreign
keys still resolve); if one fails, nothing is erased.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from contacts.models import Contact, Segment
from contacts.segments.erasure import Identifiers, forget_in_segments
from contacts.services.duplicates import forget_dismissal_history
from contacts.services.suppression import suppress
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

ERASED_ACTION = "contact.erase"


@dataclass(frozen=True)
class ErasureSubject:
    """Who is being erased: what scrubbers look for. Phone is E.164 or empty.

    ``former_*`` are what the person was also known by: the addresses and numbers they had
    before (changed since, or a duplicate's merged into them; not one another contact holds
    now), the ids of the duplicates merged into them and those duplicates' full names (first
    and last). Rows
    written before the change or the merge (an agent's request, an import's report) name the
    person by those."""

    contact_id: uuid.UUID
    email: str
    phone: str
    first_name: str
    last_name: str
    former_emails: frozenset[str] = frozenset()
    former_phones: frozenset[str] = frozenset()
    merged_ids: frozenset[uuid.UUID] = frozenset()
    former_names: frozenset[str] = frozenset()

    @property
    def full_names(self) -> frozenset[str]:
        """The names to look for in free text (reasons, notes): first and last name together,
        current and former. A lone first name is left out: "Al" is in "not a valid email"."""
        current = f"{self.first_name.strip()} {self.last_name.strip()}"
        names = {*self.former_names, *([current] if self.first_name and self.last_name else [])}
        return frozenset(name for name in names if name.strip())


@dataclass(frozen=True)
class ErasureResult:
    """Whom an erasure erased (the opaque id) and what staff should look at after it: the
    segments whose rules quoted the person and now have conditions that match nobody."""

    contact_id: uuid.UUID
    segments_changed: tuple[Segment, ...]


def segments_notice(names: list[str]) -> str:
    """What staff read after an erasure that changed segments (the page and the approval)."""
    listed = ", ".join(f"“{name}”" for name in names)
    return (
        f"These segments had conditions on the person's email or phone, which now match "
        f"nobody: {listed}. Review them, and remove those conditions if they are no longer "
        "needed."
    )


Scrubber = Callable[[ErasureSubject], None]
_scrubbers: list[Scrubber] = []


def register_scrubber(scrubber: Scrubber) -> Scrubber:
    """Add a function that removes a person's data from another app (idempotent)."""
    if scrubber not in _scrubbers:
        _scrubbers.append(scrubber)
    return scrubber


def was_erased(contact_id: uuid.UUID) -> bool:
    return AuditEntry.objects.filter(
        action=ERASED_ACTION, object_type="contact", object_id=str(contact_id)
    ).exists()


def _contact_id(contact: Contact | uuid.UUID | str) -> uuid.UUID:
    if isinstance(contact, Contact):
        return contact.pk
    try:
        return uuid.UUID(str(contact))
    except ValueError:
        raise SwitchboardError(
            "unknown_contact", f"There is no contact with id {contact}."
        ) from None


def _about(contact_id: uuid.UUID) -> Q:
    return Q(contact_id=contact_id) | Q(object_type="contact", object_id=str(contact_id))


@dataclass(frozen=True)
class _Past:
    """What the audit trail says the person was known by before (read before it is scrubbed)."""

    identifiers: Identifiers
    merged_ids: frozenset[uuid.UUID]
    names: frozenset[str]


def _past(contact_id: uuid.UUID, email: str, phone: str) -> _Past:
    """The person's email and phone, and the ones they had before (from the audit trail, read
    before it is scrubbed): those they changed, and those of duplicates merged into them; and
    the ids and names of those duplicates."""
    emails, phones = {email.lower()}, {phone} - {""}
    merged_ids: set[uuid.UUID] = set()
    names: set[str] = set()
    entries = AuditEntry.objects.filter(_about(contact_id))
    for changes in entries.values_list("changes", flat=True):
        if not isinstance(changes, dict):
            continue
        merged = changes.get("duplicate")  # a merge: [the duplicate's values, None]
        duplicate = merged[0] if isinstance(merged, list) and merged else None
        merged_id = changes.get("merged")  # a merge: [the duplicate's id, None]
        if isinstance(merged_id, list) and merged_id and isinstance(merged_id[0], str):
            with contextlib.suppress(ValueError):
                merged_ids.add(uuid.UUID(merged_id[0]))
        if isinstance(duplicate, dict):
            first, last = (str(duplicate.get(k) or "").strip() for k in ("first_name", "last_name"))
            if first and last:
                names.add(f"{first} {last}")
        for key, found in (("email", emails), ("phone", phones)):
            values = changes.get(key)
            values = list(values) if isinstance(values, list) else []
            if isinstance(duplicate, dict):
                values.append(duplicate.get(key))
            found.update(v.lower() for v in values if isinstance(v, str) and v.strip())
    return _Past(
        identifiers=Identifiers(
            emails=frozenset(emails), phones=frozenset(p for p in phones if p.startswith("+"))
        ),
        merged_ids=frozenset(merged_ids - {contact_id}),
        names=frozenset(names),
    )


def _not_held_by_others(identifiers: Identifiers, contact_id: uuid.UUID) -> Identifiers:
    """The person's addresses and numbers bar one another contact holds now (a number passed
    on, an address shared): that is someone else's."""
    others = Contact.objects.exclude(pk=contact_id)
    held_emails = set(others.filter(email__in=identifiers.emails).values_list("email", flat=True))
    held_phones = set(others.filter(phone__in=identifiers.phones).values_list("phone", flat=True))
    return Identifiers(
        emails=identifiers.emails - held_emails, phones=identifiers.phones - held_phones
    )


def _suppress_person(identifiers: Identifiers) -> None:
    """Every address and number the person had goes on the suppression list, so that an old
    export or a merged-in duplicate's row cannot bring them back."""
    for email in identifiers.emails:
        suppress(email=email, reason="erased")
    for phone in identifiers.phones:
        suppress(phone=phone, reason="erased")


def _scrub_audit_trail(contact_id: uuid.UUID) -> int:
    """Blank the names and values in every audit entry about the contact; keep who/what/when."""
    entries = list(
        AuditEntry.objects.filter(_about(contact_id)).only("pk", "changes", "object_repr")
    )
    for entry in entries:
        entry.object_repr = ""
        # Keep which attributes changed (useful for statistics), never their values.
        keys = entry.changes if isinstance(entry.changes, dict) else {}
        entry.changes = {key: [None, None] for key in keys}
    AuditEntry.objects.bulk_update(entries, ["object_repr", "changes"], batch_size=500)
    return len(entries)


@transaction.atomic
def erase_contact(*, actor: Actor, contact: Contact | uuid.UUID | str) -> ErasureResult:
    """Erase a person for good. ``already_erased`` if that was done before."""
    contact_id = _contact_id(contact)
    locked = Contact.objects.select_for_update().filter(pk=contact_id).first()
    if locked is None:
        if was_erased(contact_id):
            raise SwitchboardError(
                "already_erased", "This contact has already been erased; nothing is left to erase."
            )
        raise SwitchboardError("unknown_contact", f"There is no contact with id {contact_id}.")

    past = _past(locked.pk, locked.email, locked.phone)  # before the audit trail is scrubbed
    theirs = _not_held_by_others(past.identifiers, locked.pk)
    subject = ErasureSubject(
        contact_id=locked.pk,
        email=locked.email,
        phone=locked.phone,
        first_name=locked.first_name,
        last_name=locked.last_name,
        former_emails=theirs.emails - {locked.email.lower()},
        former_phones=theirs.phones - {locked.phone},
        merged_ids=past.merged_ids,
        former_names=past.names,
    )
    _suppress_person(theirs)
    for scrubber in list(_scrubbers):
        scrubber(subject)
    segments = forget_in_segments(actor=actor, identifiers=past.identifiers)
    scrubbed = _scrub_audit_trail(locked.pk)
    # Their own history goes with the row; other contacts' "not a duplicate of <them>" lines
    # name them, so those go too.
    forget_dismissal_history(locked.pk)

    # The record of the erasure itself: who and when, never whom (beyond the opaque id).
    entry = audit.build_entry(
        actor=actor,
        action=ERASED_ACTION,
        obj=locked,
        contact_id=locked.pk,
        changes={
            "audit_entries_scrubbed": [None, scrubbed],
            "segments_changed": [None, [segment.pk for segment in segments]],
        },
    )
    entry.object_repr = ""
    locked.delete()  # cascades to field values, memberships, tags and the interaction log
    entry.save()
    return ErasureResult(contact_id=locked.pk, segments_changed=tuple(segments))
