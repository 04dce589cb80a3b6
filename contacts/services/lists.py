"""Static lists of contacts, with an optional size limit."""

from __future__ import annotations

import hashlib
import json

from django.db import connection, transaction
from django.db.models import Max

from contacts.models import Contact, ContactList, InteractionKind, ListMembership
from contacts.services.history import log_interaction
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError

LIST_NAME_MAX = 100
# The limit column is a 32-bit integer on PostgreSQL: anything larger fails the write.
LIST_LIMIT_MAX = 2**31 - 1


def _clean(name: str, limit: int | None) -> tuple[str, int | None]:
    name = " ".join((name or "").split())
    if "\x00" in name:  # no database text column holds it (PostgreSQL: a 500)
        raise SwitchboardError(
            "invalid_list", "A list name cannot hold NUL characters.", field="name"
        )
    if not name or len(name) > LIST_NAME_MAX:
        raise SwitchboardError(
            "invalid_list", f"A list name has 1 to {LIST_NAME_MAX} characters.", field="name"
        )
    if limit is not None and not 1 <= limit <= LIST_LIMIT_MAX:
        raise SwitchboardError(
            "invalid_list",
            f"A list limit is a number from 1 to {LIST_LIMIT_MAX:,} (or empty for none).",
            field="limit",
        )
    return name, limit


def get_list(list_id: int | str) -> ContactList:
    try:
        return ContactList.objects.get(pk=int(list_id))
    except (ContactList.DoesNotExist, ValueError, TypeError):
        raise SwitchboardError(
            "unknown_list", f"There is no list with id {list_id}.", field="list_id"
        ) from None


def _lock(contact_list: ContactList) -> ContactList:
    """The list's row, locked for this transaction; ``unknown_list`` if it was deleted since
    the caller looked it up (a colleague, another agent), not a server error."""
    locked = ContactList.objects.select_for_update().filter(pk=contact_list.pk).first()
    if locked is None:
        raise SwitchboardError(
            "unknown_list",
            f"The list “{contact_list.name}” no longer exists: it was deleted a moment ago.",
            field="list_id",
        )
    return locked


def newest_list_id() -> int:
    """The id of the newest list (0 for none). A form that creates a list carries the one it
    was drawn with, so the same form sent twice makes one list (see ``created_since``)."""
    return ContactList.objects.aggregate(newest=Max("pk"))["newest"] or 0


def hold_list_creation(key: str) -> None:
    """Make creations with this key wait for each other until the transaction ends, so the
    second of two overlapping requests sees the first's list. PostgreSQL: an advisory lock
    (there is no row to lock yet); SQLite's IMMEDIATE transactions already take turns."""
    if connection.vendor == "postgresql":
        digest = hashlib.sha256(f"contacts.list:{key}".encode()).digest()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
            )


def created_since(*, actor: Actor, after_id: int, **match: object) -> ContactList | None:
    """A list ``actor`` created after list ``after_id`` that has ``match``: what the same
    create form made when it was sent a moment ago (a double click, a resubmitted page)."""
    candidates = list(ContactList.objects.filter(pk__gt=after_id, **match))
    return audit.first_created_by(actor, "list.create", candidates)


@transaction.atomic
def create_list(
    *,
    actor: Actor,
    name: str,
    limit: int | None = None,
    description: str = "",
    after_list: int | None = None,
) -> ContactList:
    """``after_list``: ``newest_list_id()`` when the create form was drawn. The same form sent
    again (a double click, a resubmitted page) answers the list it made instead of a second
    one; a list of the same name from a fresh form is made (names may repeat)."""
    name, limit = _clean(name, limit)
    description = description[:300]
    if after_list is not None:
        hold_list_creation(name.casefold())
        match = {"name": name, "limit": limit, "description": description}
        if earlier := created_since(actor=actor, after_id=after_list, **match):
            return earlier
    contact_list = ContactList.objects.create(name=name, limit=limit, description=description)
    audit.record(
        actor=actor,
        action="list.create",
        obj=contact_list,
        changes={"name": [None, name], "limit": [None, limit]},
    )
    return contact_list


def list_version(contact_list: ContactList) -> str:
    """A digest of the list's name, limit and description as stored: the edit page sends back
    the one it was drawn with, so a save cannot quietly undo a colleague's save made meanwhile
    (their new name put back along with a new limit)."""
    values = [contact_list.name, contact_list.limit, contact_list.description]
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()[:16]


@transaction.atomic
def update_list(
    *,
    actor: Actor,
    contact_list: ContactList,
    name: str,
    limit: int | None,
    description: str = "",
    expected_version: str | None = None,
) -> ContactList:
    """``expected_version``: ``list_version`` of the list as the editor loaded it; if someone
    saved the list since, ``edit_conflict`` instead of replacing their values with the old
    (unless the save would store just what is there)."""
    name, limit = _clean(name, limit)
    locked = _lock(contact_list)
    current = list_version(locked)
    # Saving what is stored already (the second click of a double click) loses nothing.
    wanted = [name, limit, description[:300]]
    unchanged = wanted == [locked.name, locked.limit, locked.description]
    if expected_version and expected_version != current and not unchanged:
        limit_text = "no limit" if locked.limit is None else f"limit {locked.limit:,}"
        raise SwitchboardError(
            "edit_conflict",
            f"This list was changed{audit.last_changed_by(locked)} while you were editing; it "
            f"is now “{locked.name}”, {limit_text}. Your values are kept below: save again to "
            "replace theirs with yours.",
            version=current,
        )
    members = locked.memberships.count()
    if limit is not None and members > limit:
        raise SwitchboardError(
            "list_full",
            f"“{name}” already has {members} contacts; the limit cannot be lower.",
            field="limit",
        )
    before = {"name": locked.name, "limit": locked.limit, "description": locked.description}
    locked.name, locked.limit, locked.description = name, limit, description[:300]
    locked.save(update_fields=["name", "limit", "description"])
    after = {"name": name, "limit": limit, "description": locked.description}
    if changes := audit.diff(before, after):
        audit.record(actor=actor, action="list.update", obj=locked, changes=changes)
    return locked


def gone_note(list_id: int) -> str | None:
    """What became of a list that no longer exists, for whoever acts on a page drawn before
    it went ("The list VIP was already deleted by ada."); None if there never was one."""
    entry = audit.last_removal("contactlist", list_id, "list.delete")
    if entry is None:
        return None
    return f"The list {entry.object_repr} was already deleted by {entry.actor_label}."


@transaction.atomic
def delete_list(*, actor: Actor, contact_list: ContactList) -> None:
    members = contact_list.memberships.count()
    audit.record(
        actor=actor,
        action="list.delete",
        obj=contact_list,
        changes={"name": [contact_list.name, None], "contacts": [members, 0]},
    )
    contact_list.delete()


@transaction.atomic
def add_to_list(*, actor: Actor, contact: Contact, contact_list: ContactList) -> bool:
    """Add a contact to a list; False if it was already there. Refuses when the list is full."""
    # Lock the list row so two concurrent adds cannot both take the last free place.
    locked = _lock(contact_list)
    if ListMembership.objects.filter(list=locked, contact=contact).exists():
        return False
    if locked.limit is not None and locked.memberships.count() >= locked.limit:
        raise SwitchboardError(
            "list_full",
            f"“{locked.name}” is full ({locked.limit} contacts).",
            field="list_id",
            list_id=locked.pk,
        )
    ListMembership.objects.create(list=locked, contact=contact)
    audit.record(
        actor=actor,
        action="contact.list_add",
        obj=contact,
        contact_id=contact.pk,
        changes={"lists": [None, locked.name]},
    )
    log_interaction(
        contact=contact,
        actor=actor,
        kind=InteractionKind.LIST_ADDED,
        description=f"Added to {locked.name}",
    )
    return True


@transaction.atomic
def remove_from_list(*, actor: Actor, contact: Contact, contact_list: ContactList) -> bool:
    deleted, _ = ListMembership.objects.filter(list=contact_list, contact=contact).delete()
    if deleted:
        audit.record(
            actor=actor,
            action="contact.list_remove",
            obj=contact,
            contact_id=contact.pk,
            changes={"lists": [contact_list.name, None]},
        )
        log_interaction(
            contact=contact,
            actor=actor,
            kind=InteractionKind.LIST_REMOVED,
            description=f"Removed from {contact_list.name}",
        )
    return bool(deleted)
