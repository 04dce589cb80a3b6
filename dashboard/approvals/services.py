"""The approval queue: what waits, in a shape the page can show, and bulk decisions.

Single decisions are ``dashboard.agents.pipeline.approve`` / ``reject``: they claim the request
with a conditional UPDATE, so it is decided once however many staff click at the same moment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import Contact, ContactList, Segment, Tag
from contacts.services.duplicates import merged_into
from dashboard.agents import pipeline
from dashboard.agents.models import ApprovalRequest, ApprovalStatus
from dashboard.errors import SwitchboardError
from sms.services.credits import get_balance
from sms.services.messages import parse_schedule


def pending() -> QuerySet[ApprovalRequest]:
    """Requests still waiting, newest first (expired ones drop out even before the sweep)."""
    return (
        ApprovalRequest.objects.waiting()
        .select_related("agent", "agent_action", "prompt_version")
        .order_by("-created_at", "-id")
    )


def pending_count() -> int:
    """For the navigation badge on every page: one COUNT on the indexed status column."""
    return ApprovalRequest.objects.waiting().count()


RECENT_LIMIT = 10


def _decided() -> QuerySet[ApprovalRequest]:
    """Decisions (expiries too), last decided first, on their own index."""
    return ApprovalRequest.objects.filter(decided_at__isnull=False).order_by("-decided_at", "-id")


def recently_decided() -> list[ApprovalRequest]:
    return list(_decided().select_related("agent", "decided_by")[:RECENT_LIMIT])


def _key(rows: Iterable[tuple[int, str]]) -> str:
    return ",".join(f"{pk}:{status}" for pk, status in rows)


def decisions_key(decided: list[ApprovalRequest]) -> str:
    """What a "Recently decided" table shows, in short: the poll redraws a page's table when
    its key differs. Rows, not a time: an approval stamps its time when it claims the request
    but commits once the action ran, so a decision can commit after a later one."""
    return _key((r.pk, r.status) for r in decided)


def latest_decisions_key() -> str:
    """The key of the table as it would be drawn now, from a narrow query."""
    return _key(_decided().values_list("pk", "status")[:RECENT_LIMIT])


@dataclass
class QueueItem:
    request: ApprovalRequest
    contact: Contact | None
    # The agent's dry run when it asked: encoding, segments, price.
    preview: dict[str, Any]
    editable: str | None
    balance: Decimal
    audience: str = ""  # a campaign's list, tag or segment, by name
    admin_approval: bool = False  # an erasure: only admins approve it
    audience_gone: bool = False  # the campaign's list, tag or segment was deleted since
    # The request names a contact that no longer exists (deleted, or merged into this one).
    contact_gone: bool = False
    merged_into: Contact | None = None

    @property
    def text(self) -> str:
        return str(self.request.payload.get(self.editable, "")) if self.editable else ""

    @property
    def price(self) -> Decimal | None:
        # A send's dry run answers "price"; a campaign's answers the total as "cost".
        price = self.preview.get("price", self.preview.get("cost"))
        return Decimal(price) if price not in (None, "") else None

    @property
    def recipients(self) -> int | None:
        """For a campaign: how many it reaches, as screened when the agent asked."""
        return None if self.audience_gone else self.preview.get("recipients")

    @property
    def balance_after(self) -> Decimal | None:
        return self.balance - self.price if self.price is not None else None

    @property
    def details(self) -> list[tuple[str, Any]]:
        """The payload apart from the text and the recipient, for campaigns and erasures (and
        a send's schedule); options left unset are not shown."""
        hidden = {self.editable, "contact_id", "to", "message"}
        if self.audience or self.audience_gone:
            hidden |= {"audience_kind", "audience_id"}
        return [
            (k, _shown(k, v))
            for k, v in self.request.payload.items()
            if k not in hidden and v not in (None, "")
        ]


def _shown(key: str, value: Any) -> Any:
    """A send's ``schedule_at`` as staff read times, in the site's zone, named; else as is."""
    if key != "schedule_at":
        return value
    try:
        moment = parse_schedule(value)
    except SwitchboardError:
        return value
    return f"{timezone.localtime(moment):%d %b %Y %H:%M %Z}" if moment else value


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def queue_items(requests: list[ApprovalRequest]) -> list[QueueItem]:
    """Wrap requests for display with their contacts (one query) and the credit balance."""
    ids = {cid for r in requests if (cid := _uuid(r.payload.get("contact_id")))}
    contacts = Contact.objects.in_bulk(list(ids)) if ids else {}
    # Gone since the agent asked: say where a merged one went, or staff approve it blind.
    survivors = {cid: merged_into(cid) for cid in ids - set(contacts)}
    merged = Contact.objects.in_bulk([pk for pk in survivors.values() if pk])
    audiences = _audience_names(requests)
    balance = get_balance() if requests else Decimal(0)
    items = []
    for request in requests:
        spec = pipeline.ACTIONS.get(request.action)
        response = (request.agent_action.response_body if request.agent_action else None) or {}
        contact_id = _uuid(request.payload.get("contact_id"))
        audience = _audience_key(request.payload)
        items.append(
            QueueItem(
                request=request,
                contact=contacts.get(contact_id),
                contact_gone=contact_id in survivors,
                merged_into=merged.get(survivors.get(contact_id)),
                preview=response.get("preview") or {},
                editable=spec.editable if spec else None,
                balance=balance,
                audience=audiences.get(audience, ""),
                audience_gone=audience is not None and audience not in audiences,
                admin_approval=bool(spec and spec.admin_approval),
            )
        )
    return items


AUDIENCE_MODELS = {"list": ContactList, "tag": Tag, "segment": Segment}


def _audience_key(payload: dict[str, Any]) -> tuple[str, int] | None:
    kind, pk = payload.get("audience_kind"), payload.get("audience_id")
    if kind not in AUDIENCE_MODELS or not str(pk).isdecimal():
        return None
    return kind, int(pk)


def _audience_names(requests: list[ApprovalRequest]) -> dict[tuple[str, int], str]:
    """'list “VIP”' for each campaign's audience: one query per kind, not per request."""
    wanted: dict[str, set[int]] = {}
    for request in requests:
        if key := _audience_key(request.payload):
            wanted.setdefault(key[0], set()).add(key[1])
    names = {}
    for kind, pks in wanted.items():
        for pk, name in AUDIENCE_MODELS[kind].objects.filter(pk__in=pks).values_list("pk", "name"):
            names[(kind, pk)] = f"{kind} “{name}”"
    return names


@dataclass
class BulkResult:
    decided: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def decide_many(
    *,
    request_ids: list[int],
    user: Any,
    approve: bool,
    note: str = "",
    edited_texts: dict[int, str] | None = None,
) -> BulkResult:
    """Approve or reject several requests, each claimed on its own: one already decided by
    someone else (or failing) is reported and the rest still go through. ``edited_texts``
    are the texts staff changed on the page before approving them together."""
    result = BulkResult()
    edited_texts = edited_texts or {}
    for request_id in dict.fromkeys(request_ids):
        try:
            if approve:
                request = pipeline.approve(
                    request_id=request_id, user=user, note=note,
                    edited_text=edited_texts.get(request_id),
                )  # fmt: skip
            else:
                request = pipeline.reject(request_id=request_id, user=user, note=note)
        except SwitchboardError as exc:
            result.errors.append(f"#{request_id}: {exc.message}")
            continue
        result.decided.append(request.pk)
        if request.status == ApprovalStatus.FAILED:
            message = (request.result or {}).get("message", "it failed")
            result.errors.append(f"#{request_id} was approved but did not run: {message}")
    return result
