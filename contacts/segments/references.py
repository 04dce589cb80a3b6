"""Which segments' rules name a tag, a list or a custom field, and keeping names current.

Rules refer to a tag by id or name, a list by id and a custom field by id or name
(``custom:lead_score``), read each time the segment is counted. So deleting one makes those
segments invalid, and renaming one made a name-based reference point at nothing (or, once
another took the old name, at the wrong one). The edit pages name the segments that would
break; a rename rewrites the references by name to the new name.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, Literal

from django.utils import timezone

from contacts.models import ContactList, Field, Segment, Tag
from dashboard import audit
from dashboard.actors import Actor

Kind = Literal["tag", "list", "field"]


def _conditions(rules: Any) -> Iterator[dict[str, Any]]:
    """Every condition in a rules tree (groups nest), as the dicts themselves."""
    if not isinstance(rules, dict):
        return
    children = rules.get("all", rules.get("any"))
    if isinstance(children, list):
        for child in children:
            yield from _conditions(child)
    elif "field" in rules:
        yield rules


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _by_id(value: Any, pk: int) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == pk
    return isinstance(value, str) and value.strip().isdigit() and int(value) == pk


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
        if any(_refers(c, kind, obj) for c in _conditions(segment.rules))
    ]


def follow_rename(
    *, actor: Actor, kind: Literal["tag", "field"], obj: Tag | Field, old: str
) -> int:
    """Rewrite the conditions naming ``obj`` by its ``old`` name to its new one; returns how many
    segments changed. Runs inside the rename's transaction."""
    changed = 0
    for segment in Segment.objects.select_for_update().order_by("pk"):
        rules = copy.deepcopy(segment.rules)
        touched = False
        for condition in _conditions(rules):
            field, value = condition.get("field"), condition.get("value")
            if kind == "tag" and field == "tag" and isinstance(value, str):
                if not value.strip().isdigit() and _same_name(value, old):
                    condition["value"], touched = obj.name, True
            elif kind == "field" and isinstance(field, str) and field.startswith("custom:"):
                ref = field.removeprefix("custom:")
                if not ref.strip().isdigit() and _same_name(ref, old):
                    condition["field"], touched = f"custom:{obj.name}", True
        if not touched:
            continue
        changes = {"rules": [segment.rules, rules]}
        segment.rules, segment.updated_at = rules, timezone.now()
        segment.save(update_fields=["rules", "updated_at"])
        audit.record(actor=actor, action="segment.update", obj=segment, changes=changes)
        changed += 1
    return changed
