"""A contact's interaction history. Services append to it; nothing else does."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact, Interaction, InteractionKind
from dashboard import audit
from dashboard.actors import Actor
from dashboard.db import batch
from dashboard.db.batch import Statement
from dashboard.db.rows import table_of
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

EVENT_NAME_MAX = 100
# As much as a contact's whole metadata may hold: each event is a row in the history that
# segment rules scan, and the agent's request is kept with it.
EVENT_PARAMS_MAX_BYTES = 64 * 1024


def interaction_values(
    *,
    contact: Contact,
    actor: Actor,
    kind: InteractionKind,
    description: str = "",
    name: str = "",
    data: dict[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A history line's columns (by attname), for ``Interaction(**…)`` or a plain INSERT."""
    return {
        "contact_id": contact.pk,
        "kind": kind,
        "name": name,
        "description": description[:500],
        "data": data or {},
        "occurred_at": occurred_at or timezone.now(),
        "actor_kind": actor.kind,
        "actor_user_id": actor.user_id,
        "actor_ref": actor.ref,
        "actor_label": actor.label,
    }


def build_interaction(**kwargs: Any) -> Interaction:
    return Interaction(**interaction_values(**kwargs))


class Trail:
    """The audit entries and history lines of one service call, written in one INSERT each
    (``write``, or ``statements`` to send them with the call's other writes), in the order
    they were added."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.interactions: list[dict[str, Any]] = []

    def audit(self, **kwargs: Any) -> None:
        self.entries.append(audit.entry_values(**kwargs))

    def history(self, **kwargs: Any) -> None:
        self.interactions.append(interaction_values(**kwargs))

    def statements(self) -> list[Statement]:
        """The INSERTs of what was added so far (which is then forgotten)."""
        statements = []
        if self.entries:
            statements.append(table_of(AuditEntry).insert(self.entries))
        if self.interactions:
            statements.append(table_of(Interaction).insert(self.interactions))
        self.entries, self.interactions = [], []
        return statements

    def write(self) -> None:
        batch.run(self.statements())


def log_interaction(**kwargs: Any) -> Interaction:
    interaction = build_interaction(**kwargs)
    interaction.save()
    return interaction


@transaction.atomic
def record_event(
    *,
    actor: Actor,
    contact: Contact,
    name: str,
    params: dict[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
) -> Interaction:
    """Store an event from another system ("email_opened" {"campaign": "Spring Sale"})."""
    name = (name or "").strip()
    if not name or len(name) > EVENT_NAME_MAX:
        raise SwitchboardError(
            "invalid_event",
            f"An event needs a name of 1 to {EVENT_NAME_MAX} characters.",
            field="name",
        )
    if params is not None and not isinstance(params, dict):
        raise SwitchboardError("invalid_event", "Event params must be an object.", field="params")
    if params and len(json.dumps(params, default=str)) > EVENT_PARAMS_MAX_BYTES:
        raise SwitchboardError(
            "invalid_event",
            f"Event params are limited to {EVENT_PARAMS_MAX_BYTES // 1024} KB.",
            field="params",
        )
    if occurred_at and occurred_at > timezone.now() + dt.timedelta(minutes=5):
        raise SwitchboardError(
            "invalid_event", "An event cannot happen in the future.", field="occurred_at"
        )
    return log_interaction(
        contact=contact,
        actor=actor,
        kind=InteractionKind.EVENT,
        name=name,
        description=name,
        data=params or {},
        occurred_at=occurred_at,
    )


def history_page(contact: Contact, *, limit: int, before: int | None = None) -> list[Interaction]:
    """The contact's history, newest first, ``limit`` entries at most. ``before`` is the id of
    the last entry a reader already has: the page goes on from there, so a long history can be
    read whole, a page at a time."""
    entries = contact.interactions.all()
    if before is not None:
        anchor = contact.interactions.filter(pk=before).values("occurred_at").first()
        if anchor is None:
            raise SwitchboardError(
                "unknown_interaction",
                f"This contact's history has no entry {before}; pass the id of an entry it listed.",
                field="before",
            )
        at = anchor["occurred_at"]
        entries = entries.filter(Q(occurred_at__lt=at) | Q(occurred_at=at, pk__lt=before))
    return list(entries[:limit])


def mark_contacted(contact_ids: Iterable[uuid.UUID | str], at: dt.datetime | None = None) -> int:
    """Record that a message went out to these contacts at ``at`` (default now).

    Only moves ``last_contacted_at`` forward, so out-of-order calls (a retried batch) are safe.
    One UPDATE per call; returns the number of contacts changed.
    """
    at = at or timezone.now()
    ids = list(contact_ids)
    if not ids:
        return 0
    return (
        Contact.objects.filter(pk__in=ids)
        .filter(Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=at))
        .update(last_contacted_at=at)
    )
