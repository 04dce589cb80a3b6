"""The agent activity feed: what each action touched, what a live page lacks, and flagging
one for review."""

from __future__ import annotations

import uuid
from bisect import bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from dashboard import audit
from dashboard.actors import Actor
from dashboard.agents.models import ActionFlag, AgentAction
from dashboard.errors import SwitchboardError


@dataclass(frozen=True)
class Links:
    contact_id: str | None = None
    message_id: int | None = None
    import_id: int | None = None
    # Who the action was about, from its payload or answer: the feed names them without a
    # query per row (an email, or the number texted).
    label: str = ""


def links(action: AgentAction) -> Links:
    """Where an action's contact, message or import lives, from its payload and its answer
    (for a gated send, the approval's result holds the message)."""
    payload: dict[str, Any] = action.payload or {}
    body: dict[str, Any] = action.response_body or {}
    approval = getattr(action, "approval", None)
    result: dict[str, Any] = (approval.result if approval else None) or {}
    given = payload.get("contact_id") or (
        body.get("id") if action.action in ("upsert_contact", "update_contact") else None
    )
    # As the agent sent it: a refused request may hold any text (or a UUID in capitals).
    contact_id = _uuid(given)
    message_id = next(
        (b.get("id") for b in (body, result) if isinstance(b.get("id"), int)), None
    ) if action.action == "send_sms" else None  # fmt: skip
    import_id = body.get("import_job_id") if isinstance(body.get("import_job_id"), int) else None
    label = next(
        (v for v in (body.get("email"), payload.get("email"), payload.get("to"))
         if isinstance(v, str) and v),
        "" if contact_id or not isinstance(given, str) else given,
    )  # fmt: skip
    return Links(contact_id, message_id, import_id, label[:254])


def _uuid(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


# How far below its newest row (in ids) a live page still looks for actions that committed
# late: an action takes its id when its transaction starts, and several web processes write at
# once, so a slow one can commit after later ones the page already shows. The ids seen in the
# window travel with each poll as runs ("3-9,11"), so a wide window costs little.
LATE_WINDOW = 200


LAST_ID = 2**63 - 1


def _floor(after: int) -> int:
    return max(after - LATE_WINDOW, 0)


@dataclass(frozen=True)
class FeedCursor:
    """Where a live feed page stands: the newest action it shows, and which ids in the window
    below that it needs no more (rows it shows, and those on older pages)."""

    after: int = 0
    seen: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def within(cls, after: int, ids: Iterable[int]) -> FeedCursor:
        floor = _floor(after)
        return cls(after, frozenset(pk for pk in ids if floor < pk <= after))

    @property
    def floor(self) -> int:
        """Ids at or below this are no longer looked for."""
        return _floor(self.after)

    @classmethod
    def for_page(cls, shown: list[int], *, older_pages: bool) -> FeedCursor:
        after = max(shown, default=0)
        ids = set(shown)
        if older_pages and shown:  # what sorts below the page's last row is on the next pages
            ids.update(range(_floor(after) + 1, min(shown)))
        return cls.within(after, ids)

    @classmethod
    def parse(cls, after: str, seen: str | None) -> FeedCursor:
        """From the poller's values: ``seen`` as runs of ids, "3-9,11"."""
        # No id is above the largest a BigAutoField holds; a number beyond it (a tampered
        # poll URL) would overflow the database's integer in the look-up.
        top = min(int(after), LAST_ID) if after.isdecimal() else 0
        floor = _floor(top)
        if seen is None:  # a page drawn before the feed sent ``seen`` holds all up to its cursor
            return cls.within(top, range(floor + 1, top + 1))
        ids: set[int] = set()
        for run in seen.split(","):
            low, _, high = run.partition("-")
            if low.isdecimal() and (high.isdecimal() or not high):
                ids.update(range(max(int(low), floor + 1), min(int(high or low), top) + 1))
        return cls(top, frozenset(ids))

    @property
    def seen_text(self) -> str:
        runs: list[list[int]] = []
        for pk in sorted(self.seen):
            if runs and pk == runs[-1][1] + 1:
                runs[-1][1] = pk
            else:
                runs.append([pk, pk])
        return ",".join(f"{low}-{high}" if high > low else str(low) for low, high in runs)

    def advance(self, added: Iterable[int]) -> FeedCursor:
        """Past what a poll just sent the page."""
        sent = set(added)
        return self.within(max([self.after, *sent]), self.seen | sent)


@dataclass(frozen=True)
class FeedUpdate:
    # Newer than anything the page shows, newest first: they go on top.
    newer: list[AgentAction]
    # Older ones that committed late, each with the id of the row it goes under, top down.
    late: list[tuple[int | None, AgentAction]]
    cursor: FeedCursor


def feed_update(*, actions: QuerySet[AgentAction], cursor: FeedCursor, limit: int) -> FeedUpdate:
    """What a live page at ``cursor`` lacks of ``actions`` (ordered newest first): one query on
    the primary key, never a row the page already shows."""
    found = list(actions.filter(pk__gt=cursor.floor).exclude(pk__in=cursor.seen)[:limit])
    newer = [a for a in found if a.pk > cursor.after]
    # The page's rows by id (older pages' ids all sort below any late one), to place each
    # late action under its next newer row, which may itself be one arriving now.
    on_page = sorted(cursor.seen | {a.pk for a in newer})
    late: list[tuple[int | None, AgentAction]] = []
    for action in (a for a in found if a.pk <= cursor.after):
        above = bisect_right(on_page, action.pk)
        late.append((on_page[above] if above < len(on_page) else None, action))
        insort(on_page, action.pk)
    return FeedUpdate(newer, late, cursor.advance(a.pk for a in found))


@transaction.atomic
def flag_action(*, actor: Actor, action: AgentAction, comment: str) -> ActionFlag:
    comment = " ".join((comment or "").split())
    if not comment:
        raise SwitchboardError(
            "empty_comment", "Say why this action needs a look.", field="comment"
        )
    flag = ActionFlag.objects.create(
        agent_action=action, comment=comment[:500], flagged_by_id=actor.user_id
    )
    audit.record(
        actor=actor,
        action="agent_action.flag",
        obj=action,
        changes={"flag": [None, flag.comment]},
    )
    return flag


@transaction.atomic
def resolve_flag(*, actor: Actor, flag: ActionFlag) -> bool:
    """Mark a flag as looked at; False when someone already did."""
    resolved = ActionFlag.objects.filter(pk=flag.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )
    if resolved:
        audit.record(
            actor=actor,
            action="agent_action.flag_resolve",
            obj=flag.agent_action,
            changes={"flag": [flag.comment, None]},
        )
    return bool(resolved)
