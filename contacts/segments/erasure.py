"""Erasure (GDPR): segment conditions that quote the erased person's email or phone.

A rule like ``email equals ana@example.com`` (or a metadata, custom-field or event-parameter
condition on her address or number) keeps her personal data in the saved rules and in the
segment's audit trail. Such a condition becomes ``{"any": []}``, the group that matches
nobody. Dropping it instead would widen an ``all`` group, and a placeholder value would widen
a negated condition (``not_equals``); the rule language has no group negation, so "nobody"
in place of a condition can only ever narrow a segment. ``email equals <her address>``
matched only her, so such a segment keeps its meaning exactly.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.utils import timezone

from contacts.models import Segment
from contacts.segments.references import conditions
from dashboard import audit
from dashboard.actors import Actor
from dashboard.models import AuditEntry

MATCHES_NOBODY: dict[str, list[Any]] = {"any": []}
# What people type around a number: "+44 7400 123-456", "(0044) 7400…".
NUMBER_PUNCTUATION = re.compile(r"[\s().\-/]")


@dataclass(frozen=True)
class Identifiers:
    """The erased person's email addresses (lower case) and E.164 numbers, current and past."""

    emails: frozenset[str]
    phones: frozenset[str]

    @cached_property
    def _email(self) -> re.Pattern[str] | None:
        # Whole addresses only: erasing a@b.co must not touch a rule on ana@b.com.
        found = "|".join(re.escape(email) for email in sorted(self.emails) if email)
        return re.compile(rf"(?<![\w.+-])(?:{found})(?![\w.-])") if found else None

    @cached_property
    def _phone(self) -> re.Pattern[str] | None:
        # With "+", "00" or neither before the digits, and no other digit around them.
        found = "|".join(re.escape(phone[1:]) for phone in sorted(self.phones) if phone)
        return re.compile(rf"(?<!\d)(?:\+|00)?(?:{found})(?!\d)") if found else None

    def quoted_in(self, value: Any) -> bool:
        """Whether any text or number in ``value`` (nested lists and dicts too) holds one."""
        if isinstance(value, dict):
            return any(self.quoted_in(item) for item in value.values())
        if isinstance(value, list):
            return any(self.quoted_in(item) for item in value)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # metadata can hold a number as a JSON number
        if not isinstance(value, str):
            return False
        # Rules match an address however its letters were typed (full-width, a decomposed
        # accent): NFKC brings such a spelling to the one stored before it is compared.
        text = unicodedata.normalize("NFKC", value).lower()
        if self._email and self._email.search(text):
            return True
        return bool(self._phone and self._phone.search(NUMBER_PUNCTUATION.sub("", text)))


def scrub_rules(rules: Any, identifiers: Identifiers) -> tuple[Any, int]:
    """A copy of ``rules`` with every condition quoting the person made to match nobody, and
    how many conditions that was."""
    rules = copy.deepcopy(rules)
    scrubbed = 0
    for condition in list(conditions(rules)):
        if identifiers.quoted_in(condition):
            condition.clear()  # in place: the condition is a child of its group's list
            condition.update(copy.deepcopy(MATCHES_NOBODY))
            scrubbed += 1
    return rules, scrubbed


def _scrub_segment_audit_trail(identifiers: Identifiers) -> None:
    """Segment entries (create, update, delete) hold the rules as they were then, also of
    segments since edited or deleted. A scan, but erasures are rare and must not miss one."""
    entries = AuditEntry.objects.filter(object_type="segment").only("pk", "changes")
    changed = []
    for entry in entries.iterator(chunk_size=500):
        rules = entry.changes.get("rules") if isinstance(entry.changes, dict) else None
        if isinstance(rules, list) and identifiers.quoted_in(rules):
            entry.changes["rules"] = [scrub_rules(value, identifiers)[0] for value in rules]
            changed.append(entry)
    AuditEntry.objects.bulk_update(changed, ["changes"], batch_size=500)


def forget_in_segments(*, actor: Actor, identifiers: Identifiers) -> list[Segment]:
    """Make the conditions quoting the person match nobody, in every segment and its audit
    trail; returns the segments changed, for staff to review. Runs in the caller's
    transaction."""
    changed: list[Segment] = []
    # Locked in id order, as renames and tag merges lock them (references.py): in name order
    # an erasure and a rename running at once on PostgreSQL could each wait for the other.
    for segment in Segment.objects.select_for_update().order_by("pk"):
        rules, scrubbed = scrub_rules(segment.rules, identifiers)
        if not scrubbed:
            continue
        segment.rules, segment.updated_at = rules, timezone.now()
        segment.save(update_fields=["rules", "updated_at"])
        changed.append(segment)
    _scrub_segment_audit_trail(identifiers)
    changed.sort(key=lambda segment: (segment.name, segment.pk))
    for segment in changed:
        # The new rules only: the old ones quoted the person.
        audit.record(
            actor=actor,
            action="segment.erasure",
            obj=segment,
            changes={"rules": [None, segment.rules]},
        )
    return changed
