"""Segments: saved rules that select contacts, always current because nothing is stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from contacts.models import (
    Contact,
    ContactList,
    Interaction,
    InteractionKind,
    ListMembership,
    Segment,
)
from contacts.segments.rules import compile_rules
from contacts.services import lists as list_service
from contacts.services.history import build_interaction
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

SEGMENT_NAME_MAX = 100
SNAPSHOT_BATCH = 1000


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if "\x00" in name:  # no database text column holds it (PostgreSQL: a 500)
        raise SwitchboardError(
            "invalid_segment", "A segment name cannot hold NUL characters.", field="name"
        )
    if not name or len(name) > SEGMENT_NAME_MAX:
        raise SwitchboardError(
            "invalid_segment",
            f"A segment name has 1 to {SEGMENT_NAME_MAX} characters.",
            field="name",
        )
    return name


def get_segment(segment_id: int | str) -> Segment:
    try:
        return Segment.objects.get(pk=int(segment_id))
    except (Segment.DoesNotExist, ValueError, TypeError):
        raise SwitchboardError(
            "unknown_segment", f"There is no segment with id {segment_id}.", field="segment_id"
        ) from None


def gone_note(segment_id: int) -> str | None:
    """What became of a segment that no longer exists, for whoever acts on a page drawn
    before it went ("The segment VIPs was already deleted by ada."); None if there never was
    one."""
    entry = audit.last_removal("segment", segment_id, "segment.delete")
    if entry is None:
        return None
    return f"The segment {entry.object_repr} was already deleted by {entry.actor_label}."


def matching_contacts(rules: Any) -> QuerySet[Contact]:
    """The contacts ``rules`` select right now (validates the rules first)."""
    return Contact.objects.filter(compile_rules(rules))


def segment_members(segment: Segment) -> QuerySet[Contact]:
    return matching_contacts(segment.rules)


def count_members(segment: Segment) -> int:
    return segment_members(segment).count()


def newest_segment_id() -> int:
    """The id of the newest segment (0 for none). The builder's new-segment form carries the
    one it was drawn with, so the same form sent twice makes one segment."""
    return Segment.objects.aggregate(newest=Max("pk"))["newest"] or 0


def _created_since(*, actor: Actor, after_id: int, name: str, rules: Any) -> Segment | None:
    """A segment ``actor`` created after segment ``after_id`` with this name and these rules:
    what the same form made when it was sent a moment ago (a double click)."""
    same_name = Segment.objects.filter(pk__gt=after_id, name=name)
    candidates = [segment for segment in same_name if segment.rules == rules]
    return audit.first_created_by(actor, "segment.create", candidates)


@transaction.atomic
def create_segment(
    *, actor: Actor, name: str, rules: Any, after_segment: int | None = None
) -> Segment:
    """``after_segment``: ``newest_segment_id()`` when the form was drawn. The same form sent
    again answers the segment it made instead of a second, identical one."""
    name = _clean_name(name)
    compile_rules(rules)
    if after_segment is not None:
        list_service.hold_list_creation(f"segment:{name.casefold()}")
        if earlier := _created_since(actor=actor, after_id=after_segment, name=name, rules=rules):
            return earlier
    now = timezone.now()
    segment = Segment.objects.create(name=name, rules=rules, created_at=now, updated_at=now)
    audit.record(
        actor=actor,
        action="segment.create",
        obj=segment,
        changes={"name": [None, name], "rules": [None, rules]},
    )
    return segment


@transaction.atomic
def update_segment(
    *,
    actor: Actor,
    segment: Segment,
    name: str,
    rules: Any,
    expected_updated_at: dt.datetime | None = None,
) -> Segment:
    """``expected_updated_at``: when the segment the editor loaded was last saved. If someone
    saved it since, the update is refused with ``edit_conflict`` instead of replacing their
    rules with rules built on the old ones."""
    name = _clean_name(name)
    compile_rules(rules)
    locked = Segment.objects.select_for_update().filter(pk=segment.pk).first()
    if locked is None:  # deleted after the editor's page looked it up
        raise SwitchboardError(
            "unknown_segment",
            (gone_note(segment.pk) or "This segment was deleted.") + " Nothing was saved.",
            field="segment_id",
        )
    if expected_updated_at is not None and locked.updated_at != expected_updated_at:
        raise SwitchboardError(
            "edit_conflict",
            f"This segment was changed{audit.last_changed_by(locked)} while you were editing. Reload it to see the "
            "latest rules, then make your change again.",
        )
    changes = audit.diff(
        {"name": locked.name, "rules": locked.rules}, {"name": name, "rules": rules}
    )
    if changes:
        locked.name, locked.rules, locked.updated_at = name, rules, timezone.now()
        locked.save(update_fields=["name", "rules", "updated_at"])
        audit.record(actor=actor, action="segment.update", obj=locked, changes=changes)
    return locked


@transaction.atomic
def delete_segment(*, actor: Actor, segment: Segment) -> None:
    audit.record(
        actor=actor,
        action="segment.delete",
        obj=segment,
        changes={"name": [segment.name, None], "rules": [segment.rules, None]},
    )
    segment.delete()


@transaction.atomic
def snapshot_segment(
    *, actor: Actor, segment: Segment, name: str = "", after_list: int | None = None
) -> ContactList:
    """Freeze the segment's current members into a new static list.

    Writes in batches (memberships, history and audit rows via bulk_create), so a large
    audience costs a few queries per thousand contacts rather than several per contact.
    ``after_list``: ``newest_list_id()`` when the page was drawn; the same form sent again (a
    double click) answers the list it made rather than freezing a second copy.
    """
    if after_list is not None:
        list_service.hold_list_creation(f"snapshot:{segment.pk}")
        match = {"description__startswith": _snapshot_description(segment, "")}
        if name:
            match["name"] = " ".join(name.split())
        if earlier := list_service.created_since(actor=actor, after_id=after_list, **match):
            return earlier
    members = segment_members(segment)
    if not members.exists():
        raise SwitchboardError(
            "empty_segment",
            f"“{segment.name}” has no members right now, so there is nothing to save as a list.",
        )
    stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    contact_list = list_service.create_list(
        actor=actor,
        name=name or f"{segment.name[:70]} ({stamp})",
        description=_snapshot_description(segment, stamp),
    )
    # Fix the audience first: the writes below (history rows) could change who matches a rule
    # such as "fewer than 3 interactions" while we are still reading it.
    ids = list(members.order_by("pk").values_list("pk", flat=True))
    added = 0
    for start in range(0, len(ids), SNAPSHOT_BATCH):
        batch = Contact.objects.filter(pk__in=ids[start : start + SNAPSHOT_BATCH]).only(
            "pk", "email", "first_name", "last_name"
        )
        added += _add_batch(actor, contact_list, list(batch))
    audit.record(
        actor=actor,
        action="segment.snapshot",
        obj=segment,
        changes={"list": [None, contact_list.name], "contacts": [None, added]},
    )
    return contact_list


def _snapshot_description(segment: Segment, stamp: str) -> str:
    """The description of a snapshot taken at ``stamp``; without one, the start that every
    snapshot of this segment shares."""
    start = f"Snapshot of segment “{segment.name[:200]}” taken"
    return f"{start} {stamp}." if stamp else start


def _add_batch(actor: Actor, contact_list: ContactList, contacts: list[Contact]) -> int:
    now = timezone.now()
    ListMembership.objects.bulk_create(
        [ListMembership(list=contact_list, contact=c, added_at=now) for c in contacts]
    )
    description = f"Added to {contact_list.name}"
    Interaction.objects.bulk_create(
        [
            build_interaction(
                contact=c, actor=actor, kind=InteractionKind.LIST_ADDED, description=description
            )
            for c in contacts
        ]
    )
    AuditEntry.objects.bulk_create(
        [
            audit.build_entry(
                actor=actor,
                action="contact.list_add",
                obj=c,
                contact_id=c.pk,
                changes={"lists": [None, contact_list.name]},
            )
            for c in contacts
        ]
    )
    return len(contacts)
