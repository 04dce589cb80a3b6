"""Writing the audit trail. Only services call this."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.utils import timezone

from dashboard.actors import Actor
from dashboard.models import AuditEntry


def jsonable(value: Any) -> Any:
    """Make a field value storable in the JSON ``changes`` column."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{"field": [before, after]}`` for the keys whose value changed."""
    return {
        key: [jsonable(before.get(key)), jsonable(after.get(key))]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def entry_values(
    *,
    actor: Actor,
    action: str,
    obj: Any,
    changes: dict[str, Any] | None = None,
    contact_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """An audit entry's columns (by attname), for ``AuditEntry(**…)`` or a plain INSERT."""
    return {
        "at": timezone.now(),
        "actor_kind": actor.kind,
        "actor_user_id": actor.user_id,
        "actor_ref": actor.ref,
        "actor_label": actor.label,
        "prompt_version_id": actor.prompt_version_id,
        "agent_action_id": actor.action_id,
        "action": action,
        "object_type": obj._meta.model_name,
        "object_id": str(obj.pk),
        "object_repr": str(obj)[:200],
        "contact_id": contact_id,
        "changes": changes or {},
    }


def build_entry(
    *,
    actor: Actor,
    action: str,
    obj: Any,
    changes: dict[str, Any] | None = None,
    contact_id: uuid.UUID | None = None,
) -> AuditEntry:
    return AuditEntry(
        **entry_values(actor=actor, action=action, obj=obj, changes=changes, contact_id=contact_id)
    )


def record(
    *,
    actor: Actor,
    action: str,
    obj: Any,
    changes: dict[str, Any] | None = None,
    contact_id: uuid.UUID | None = None,
) -> AuditEntry:
    entry = build_entry(actor=actor, action=action, obj=obj, changes=changes, contact_id=contact_id)
    entry.save()
    return entry


def last_removal(object_type: str, object_id: Any, *actions: str) -> AuditEntry | None:
    """The latest of ``actions`` (a delete, a merge) recorded for an object that is gone, to
    tell whoever acts on a page drawn before it went who removed it; None if none was."""
    entries = AuditEntry.objects.filter(
        object_type=object_type, object_id=str(object_id), action__in=actions
    )
    return entries.order_by("-at", "-id").first()


def first_created_by(actor: Actor, action: str, candidates: list[Any]) -> Any | None:
    """The first of ``candidates`` (model instances of one kind) whose ``action`` entry names
    ``actor``: what that person's form made a moment ago (a double click, a resubmitted page)."""
    if not candidates:
        return None
    by_id = {str(obj.pk): obj for obj in candidates}
    mine = AuditEntry.objects.filter(
        action=action,
        object_type=candidates[0]._meta.model_name,
        object_id__in=list(by_id),
        **actor.match(),
    ).values_list("object_id", flat=True)
    return min((by_id[pk] for pk in mine), key=lambda obj: obj.pk, default=None)


def last_changed_by(obj: Any = None, *, entries: Any = None, editor: Actor | None = None) -> str:
    """The words " by <who>" for the latest audit entry of ``obj`` (or of ``entries``, e.g. a
    contact's, which are found by ``contact_id``); empty if there is none. Edit conflicts name
    the colleague whose save the editor has not seen: not the ``editor``'s own later save of
    another part, where someone else's is there to name."""
    if entries is None:
        entries = AuditEntry.objects.filter(object_type=obj._meta.model_name, object_id=str(obj.pk))
    recent = entries.order_by("-at", "-id").only("actor_label")
    last = (recent.exclude(**editor.match()).first() if editor else None) or recent.first()
    return f" by {last.actor_label}" if last else ""
