"""Which segments' rules name a tag, a list or a custom field, and keeping names current.

Rules refer to a tag by id or name, a list by id and a custom field by id or name
(``custom:lead_score``), read each time the segment is counted. So deleting one makes those
segments invalid, and renaming one made a name-based reference point at nothing (or, once
another took the old name, at the wrong one). The edit pages name the segments that would
break; a rename rewrites the references by name to the new name, and merging a tag into
another points its conditions at the other.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any, Literal

from django.utils import timezone

from contacts.models import ContactList, Field, Segment, Tag
from dashboard import audit
from dashboard.actors import Actor

Kind = Literal["tag", "list", "field"]


def conditions(rules: Any) -> Iterator[dict[str, Any]]:
    """Every condition in a rules tree (groups nest), as the dicts themselves."""
    if not isinstance(rules, dict):
        return
    children = rules.get("all", rules.get("any"))
    if isinstance(children, list):
        for child in children:
            yield from conditions(child)
    elif "field" in rules:
        yield rules


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _by_id(value: Any, pk: int) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == pk
    return isinstance(value, str) and value.strip().isdecimal() and int(value) == pk


def _refers(condition: dict[str, Any], kind: Kind, obj: Tag | ContactList | Field) -> bool:
    field, value = condition.get("field"), condition.get("value")
    if not isinstance(field, str):
        return False
    if kind == "tag":
        return field == "tag" and (
            _by_id(value, obj.pk) or (isinstance(value, str) and _same_name(value, obj.name))
        )
    if kind == "list":
        return field == "list" and _by_id(value, obj.pk)
    ref = field.removeprefix("custom:")
    return field.startswith("custom:") and (_by_id(ref, obj.pk) or _same_name(ref, obj.name))


def segments_using(kind: Kind, obj: Tag | ContactList | Field) -> list[Segment]:
    """The segments with a condition on ``obj``, by name."""
    return [
        segment
        for segment in Segment.objects.order_by("name")
        if any(_refers(c, kind, obj) for c in conditions(segment.rules))
    ]


def _rewrite(actor: Actor, change: Callable[[dict[str, Any]], bool]) -> int:
    """Apply ``change`` (True when it changed the condition) to every segment's conditions;
    save and audit the segments it changed, and return how many. Runs in the caller's
    transaction."""
    changed = 0
    for segment in Segment.objects.select_for_update().order_by("pk"):
        rules = copy.deepcopy(segment.rules)
        touched = [change(condition) for condition in conditions(rules)]
        if not any(touched):
            continue
        changes = {"rules": [segment.rules, rules]}
        segment.rules, segment.updated_at = rules, timezone.now()
        segment.save(update_fields=["rules", "updated_at"])
        audit.record(actor=actor, action="segment.update", obj=segment, changes=changes)
        changed += 1
    return changed


def _tag_id_exists(value: str) -> bool:
    return Tag.objects.filter(pk=int(value)).exists()


def follow_rename(
    *, actor: Actor, kind: Literal["tag", "field"], obj: Tag | Field, old: str
) -> int:
    """Rewrite the conditions naming ``obj`` by its ``old`` name to its new one; returns how many
    segments changed."""

    def change(condition: dict[str, Any]) -> bool:
        field, value = condition.get("field"), condition.get("value")
        # Only a condition whose text changes counts: one already written as the new name
        # (or a "rename" to the same name) left as it was must not mark the segment changed,
        # which would refuse the save of anyone editing it ("changed while you were editing").
        if kind == "tag" and field == "tag" and isinstance(value, str):
            # "2024" names a tag called 2024 unless it is a tag's id (see rules._tag).
            by_name = not value.strip().isdecimal() or not _tag_id_exists(value)
            if by_name and _same_name(value, old) and value != obj.name:
                condition["value"] = obj.name
                return True
        elif kind == "field" and isinstance(field, str) and field.startswith("custom:"):
            ref = field.removeprefix("custom:")
            if not ref.strip().isdecimal() and _same_name(ref, old) and ref != obj.name:
                condition["field"] = f"custom:{obj.name}"
                return True
        return False

    return _rewrite(actor, change)


def follow_tag_merge(*, actor: Actor, source: Tag, target: Tag) -> int:
    """Point the conditions on ``source`` (by id or name) at ``target``, the same way."""

    def change(condition: dict[str, Any]) -> bool:
        if not _refers(condition, "tag", source):
            return False
        by_id = _by_id(condition.get("value"), source.pk)
        condition["value"] = target.pk if by_id else target.name
        return True

    return _rewrite(actor, change)
