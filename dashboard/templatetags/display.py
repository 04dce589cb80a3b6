"""Template filters that make recorded data read well: short ages and readable audit changes."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

# How an action reads in a sentence after the actor's name; unknown actions show as recorded.
ACTIONS = {
    "contact.create": "created the contact",
    "contact.update": "updated",
    "contact.tag": "tagged",
    "contact.untag": "untagged",
    "contact.list_add": "added to a list",
    "contact.list_remove": "removed from a list",
    "import.revert_left": "left it as it was when reverting an import (changed since)",
    "duplicate.dismiss": "marked as not a duplicate",
    "duplicate.undo_dismiss": "undid “not a duplicate”",
    "tag.create": "created a tag",
    "tag.rename": "renamed a tag",
    "tag.delete": "deleted a tag",
    "tag.merge": "merged a tag into another",
    "list.create": "created a list",
    "list.update": "changed a list",
    "list.delete": "deleted a list",
    "field.create": "created a field",
    "field.rename": "renamed a field",
    "field.delete": "deleted a field",
    "demo.load": "loaded the demo data into",
}


@dataclass(frozen=True)
class Change:
    label: str
    before: Any
    after: Any


@register.filter
def ago(value: dt.datetime | None) -> str:
    """ "3 days ago" rather than "3 days, 4 hours ago": one unit is enough to scan a list."""
    if not value:
        return ""
    if timezone.now() - value < dt.timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, depth=1)} ago"


@register.filter
def action_label(action: str) -> str:
    return ACTIONS.get(action, action)


def _show(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


@register.filter
def change_rows(changes: dict[str, list[Any]] | None) -> list[Change]:
    """``{"field": [before, after]}`` as rows; a changed JSON object lists only its changed keys.

    So a metadata edit reads "metadata.seats: 3 → 4" instead of two whole objects.
    """
    rows: list[Change] = []
    for name, pair in (changes or {}).items():
        before, after = (list(pair) + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        label = name.removeprefix("field:").replace("_", " ")
        if isinstance(before, dict) or isinstance(after, dict):
            before, after = before or {}, after or {}
            for key in sorted(set(before) | set(after), key=str):
                if before.get(key) != after.get(key):
                    rows.append(
                        Change(f"{label}.{key}", _show(before.get(key)), _show(after.get(key)))
                    )
            continue
        rows.append(Change(label, _show(before), _show(after)))
    return rows
