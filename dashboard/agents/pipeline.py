"""The one path every agent write takes (ARCHITECTURE.md §3).

``perform`` checks scopes, rate limit and monthly cap, the SMS budget, replays idempotent
retries, previews dry runs, and applies the agent's oversight mode: gated sends, campaigns and
erasures wait in an ``ApprovalRequest`` and run later through the very same registry entry when
a staff member approves them. The API and the MCP server both call it, so an action behaves the
same whoever asked and however.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from dashboard import audit
from dashboard.actors import Actor
from dashboard.agents.models import (
    ActionOutcome,
    Agent,
    AgentAction,
    ApprovalRequest,
    ApprovalStatus,
    Mode,
    UsageCounter,
)
from dashboard.agents.services import active_prompt_id
from dashboard.db import batch
from dashboard.db.batch import Statement
from dashboard.db.rows import table_of
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from dashboard.permissions import is_admin, is_staff_member
from sms.campaigns.services import schedule as campaign_schedule
from sms.services.messages import parse_schedule


@dataclass
class Result:
    """What an action handler answers: an HTTP-style status, a JSON body, the credits spent."""

    status: int
    body: dict[str, Any]
    credits: Decimal = Decimal(0)


Handler = Callable[..., Result]  # handler(*, actor, payload, dry_run) -> Result


@dataclass(frozen=True)
class ActionSpec:
    name: str
    scope: str
    handler: Handler
    # Gated agents' requests for this action wait for staff approval.
    gated: bool = False
    # Spends SMS credits: checked against the agent's monthly budget before it runs.
    budgeted: bool = False
    # The payload key staff may edit before approving (the message text).
    editable: str | None = None
    # Payload keys never stored in the action's record (a one-time code the person typed):
    # the record keeps that the key was given, not its value.
    secret: tuple[str, ...] = ()
    # Only admins may approve it: staff do not do it by hand either (an erasure), and approving
    # an agent's request must not be a way round that.
    admin_approval: bool = False

    def recorded(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.secret:
            return payload
        return {k: HIDDEN if k in self.secret else v for k, v in payload.items()}


HIDDEN = "[hidden]"


ACTIONS: dict[str, ActionSpec] = {}


def register(spec: ActionSpec) -> ActionSpec:
    ACTIONS[spec.name] = spec
    return spec


@dataclass
class Outcome:
    """The pipeline's answer, ready to become an HTTP response or an MCP tool result."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status < 400


# "unknown_…" codes that name no resource but a part of the request's content: a text's
# placeholder, a schedule's time zone. The request is fine; the rule is broken.
NOT_RESOURCES = frozenset({"unknown_placeholder", "unknown_time_zone"})


def status_for(error: SwitchboardError | str) -> int:
    """Unknown ids are 404; every other broken business rule is 406. Takes the error or its
    code (a bulk action's failed item keeps only the code): the JSON API and the MCP tools
    both answer with it, so one refusal has one status whichever door it came through."""
    code = error if isinstance(error, str) else error.code
    return 404 if code.startswith("unknown_") and code not in NOT_RESOURCES else 406


def refusal(status: int, code: str, message: str, **headers: str) -> Outcome:
    return Outcome(status, {"code": code, "message": message}, dict(headers))


# --- Limits ---------------------------------------------------------------------------------


# Both windows of a request in one statement: create the row or add one to it, unless it is
# already at its limit. The rows RETURNed are the windows that took the request.
_COUNT_SQL = """
INSERT INTO agents_usagecounter (agent_id, "window", "count") VALUES (%s, %s, 1), (%s, %s, 1)
ON CONFLICT (agent_id, "window") DO UPDATE SET "count" = agents_usagecounter."count" + 1
WHERE agents_usagecounter."count" < CASE agents_usagecounter."window" WHEN %s THEN CAST(%s AS BIGINT) ELSE CAST(%s AS BIGINT) END
RETURNING "window", "count"
"""
_NO_LIMIT = 2**62


def _windows(now: dt.datetime) -> tuple[str, str]:
    """(this minute's window, this month's window)."""
    return "m:" + now.strftime("%Y-%m-%dT%H:%M"), "M:" + now.strftime("%Y-%m")


def _count(agent: Agent, now: dt.datetime) -> Statement:
    minute, month = _windows(now)
    cap = agent.monthly_request_cap
    return Statement(
        _COUNT_SQL,
        [agent.pk, minute, agent.pk, month, minute, agent.rate_limit_per_minute,
         _NO_LIMIT if cap is None else cap],
    )  # fmt: skip


def _counted(agent: Agent, now: dt.datetime, taken: list[tuple[Any, ...]]) -> Outcome | None:
    """A refusal unless both windows took the request (the rows ``_count`` returned). A
    refusal marks the transaction for rollback: a refused request counts in neither window
    and leaves nothing behind."""
    minute, month = _windows(now)
    counts = dict(taken)
    limits = {minute: agent.rate_limit_per_minute, month: agent.monthly_request_cap}

    def took(window: str) -> bool:
        # A window's first request is inserted whatever its limit: a cap of 0 refuses it here.
        limit = limits[window]
        return window in counts and (limit is None or counts[window] <= limit)

    if took(minute) and took(month):
        if counts[minute] == 1:
            # A new minute began for this agent: drop its older minute rows. Only minute
            # windows hold a "T"; a prefix match would not do, SQLite's LIKE ignores case.
            UsageCounter.objects.filter(
                agent=agent, window__contains="T", window__lt=minute
            ).delete()
        return None
    transaction.set_rollback(True)
    full = minute if not took(minute) else month
    _full_windows.add(agent, full, now)
    return _full_windows.refusal(agent, now)


def _take(agent: Agent, now: dt.datetime) -> Outcome | None:
    """Count this request now, inside a transaction; a refusal when a window is full."""
    return _counted(agent, now, batch.run([_count(agent, now)])[0])


class _FullWindows:
    """The windows this process saw refuse an agent. Further requests in them are refused
    without touching the database, so an agent retrying in a loop costs next to nothing;
    the key holds the limit, so raising it lets the agent through at once. (Each process
    learns from its own refusals; the counter in the database has the last word.)"""

    def __init__(self) -> None:
        self.full: set[tuple[str, str, int | None]] = set()

    def _key(self, agent: Agent, window: str) -> tuple[str, str, int | None]:
        limit = (
            agent.rate_limit_per_minute if window.startswith("m:") else agent.monthly_request_cap
        )
        return agent.client_id, window, limit

    def add(self, agent: Agent, window: str, now: dt.datetime) -> None:
        current = set(_windows(now))
        self.full = {key for key in self.full if key[1] in current}
        self.full.add(self._key(agent, window))

    def refusal(self, agent: Agent, now: dt.datetime) -> Outcome | None:
        if not self.full:
            return None
        minute, month = _windows(now)
        if self._key(agent, minute) in self.full:
            wait = 60 - now.second
            return refusal(
                429,
                "rate_limited",
                f"Over the limit of {agent.rate_limit_per_minute} requests a minute; "
                f"retry in {wait} s.",
                **{"Retry-After": str(wait)},
            )
        if self._key(agent, month) in self.full:
            days = calendar.monthrange(now.year, now.month)[1]
            next_month = _month_start(now) + dt.timedelta(days=days)
            wait = int((next_month - now).total_seconds()) + 1
            return refusal(
                429,
                "monthly_cap_reached",
                f"This agent used its {agent.monthly_request_cap} requests for this month; "
                f"the count starts again on 1 {next_month:%B} (UTC). To go on sooner, ask a "
                "Switchboard admin to raise the agent's monthly cap.",
                **{"Retry-After": str(wait)},
            )
        return None


_full_windows = _FullWindows()


def _counter_transaction() -> Any:
    """The short transaction a read is counted in (writes are counted in their own).

    On PostgreSQL the counter rows are hot (every request of the agent updates them), so the
    transaction commits without waiting for the WAL flush: a crash may forget the last
    fraction of a second of counts, never the contacts.
    """
    block = transaction.atomic()
    if connection.vendor == "postgresql":
        return _RelaxedCommit(block)
    return block


class _RelaxedCommit:
    def __init__(self, block: Any) -> None:
        self.block = block

    def __enter__(self) -> None:
        self.block.__enter__()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")

    def __exit__(self, *exc: Any) -> Any:
        return self.block.__exit__(*exc)


def _month_start(now: dt.datetime) -> dt.datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def requests_this_month(agent: Agent) -> int:
    window = "M:" + timezone.now().strftime("%Y-%m")
    return (
        UsageCounter.objects.filter(agent=agent, window=window)
        .values_list("count", flat=True)
        .first()
        or 0
    )


def scope_refusal(agent: Agent, scope: str | None) -> Outcome | None:
    if scope is not None and not agent.has_scope(scope):
        return refusal(
            403,
            "missing_scope",
            f"This agent lacks the “{scope}” scope needed for this call.",
        )
    return None


def admit(agent: Agent, scope: str | None) -> Outcome | None:
    """Check scope (None: any agent may), rate limit and monthly cap for one request; None
    lets it through."""
    if refused := scope_refusal(agent, scope):
        return refused
    now = timezone.now()
    if refused := _full_windows.refusal(agent, now):
        return refused
    with _counter_transaction():
        return _take(agent, now)


def over_limits(agent: Agent) -> Outcome | None:
    """The 429 ``perform`` would answer were the agent's request counted now, without counting
    it: for a request that must be refused before it does costly work outside the pipeline
    (an import's upload is stored before its action runs). ``perform`` counts it as usual and
    has the last word."""
    now = timezone.now()
    if refused := _full_windows.refusal(agent, now):
        return refused
    minute, month = _windows(now)
    counts = dict(
        UsageCounter.objects.filter(agent=agent, window__in=[minute, month]).values_list(
            "window", "count"
        )
    )
    for window, limit in (
        (minute, agent.rate_limit_per_minute),
        (month, agent.monthly_request_cap),
    ):
        if limit is not None and counts.get(window, 0) >= limit:
            _full_windows.add(agent, window, now)
            return _full_windows.refusal(agent, now)
    return None


CREDIT_PLACES = Decimal("0.0001")  # AgentAction.credits' decimal places


def spending() -> Q:
    """The actions whose credits count against a budget: those done, and sends still waiting
    for approval. One past its time holds nothing even before ``expire_stale`` marks it: it
    can never run, and nothing may have opened the queue to sweep it since."""
    return Q(outcome=ActionOutcome.DONE) | Q(
        outcome=ActionOutcome.PENDING_APPROVAL, approval__expires_at__gt=timezone.now()
    )


def credits_spent_this_month(agent: Agent) -> Decimal:
    """Credits spent by done actions plus those held by sends still waiting for approval."""
    return _credits_spent(agent, timezone.now())


def _credits_spent(agent: Agent, moment: dt.datetime, *, besides: int | None = None) -> Decimal:
    """``credits_spent_this_month`` for the month of ``moment``, leaving out one action."""
    start = _month_start(moment)
    end = start + dt.timedelta(days=calendar.monthrange(start.year, start.month)[1])
    total = (
        AgentAction.objects.filter(
            spending(), agent=agent, created_at__gte=start, created_at__lt=end
        )
        .exclude(pk=besides)
        .aggregate(total=Sum("credits"))["total"]
    )
    # SQLite sums the 4-place column as a float-backed decimal ("0.0400000000000000").
    return (total or Decimal(0)).quantize(CREDIT_PLACES)


# --- Running an action ------------------------------------------------------------------------


def _run(spec: ActionSpec, actor: Actor, payload: dict[str, Any], *, dry_run: bool) -> Result:
    """Run the handler in one transaction; a dry run rolls it back so nothing is written."""
    try:
        with transaction.atomic():
            result = spec.handler(actor=actor, payload=payload, dry_run=dry_run)
            if dry_run:
                transaction.set_rollback(True)
    except SwitchboardError as exc:
        return Result(status_for(exc), exc.as_dict())
    if dry_run:
        result.body = {**result.body, "dry_run": True}
    return result


IDEMPOTENCY_KEY_MAX = AgentAction._meta.get_field("idempotency_key").max_length or 200


def _body_hash(action: str, payload: dict[str, Any], dry_run: bool) -> str:
    text = json.dumps([action, payload, dry_run], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(agent: Agent, key: str, body_hash: str) -> Outcome | None:
    cutoff = timezone.now() - dt.timedelta(hours=settings.AGENT_IDEMPOTENCY_HOURS)
    # A key older than the window may be used again: forget the old claim on it.
    AgentAction.objects.filter(agent=agent, idempotency_key=key, created_at__lt=cutoff).update(
        idempotency_key=""
    )
    previous = AgentAction.objects.filter(agent=agent, idempotency_key=key).first()
    if previous is None:
        return None
    if previous.body_hash != body_hash:
        return refusal(
            406,
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different request; use a new key.",
        )
    if previous.outcome == ActionOutcome.RUNNING:
        return refusal(
            406,
            "idempotency_key_in_progress",
            "A request with this Idempotency-Key is still running; retry in a moment.",
        )
    return Outcome(
        previous.response_status or 200, previous.response_body, {"Idempotent-Replayed": "true"}
    )


def perform(
    agent: Agent,
    action_name: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    dry_run: bool = False,
    reason: str = "",
    fingerprint: dict[str, Any] | None = None,
) -> Outcome:
    """Run one agent action through every check (see the module docstring).

    ``fingerprint`` stands in for the payload when comparing idempotent retries, for payloads
    that hold a per-request id (an upload's fresh job id) rather than what the agent sent.

    The request is counted against the agent's limits last, in the same round trip as its
    record: the counter rows are the hottest in the database, and a row lock taken at the
    start would be held through the whole action. A request that finds a window full is
    rolled back, work and all; the process then refuses the agent's next ones in that window
    without doing any (``_FullWindows``).
    """
    spec = ACTIONS[action_name]
    if refused := scope_refusal(agent, spec.scope):
        return refused
    now = timezone.now()
    if refused := _full_windows.refusal(agent, now):
        return refused
    key = (idempotency_key or "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        # Cut short, two different keys could share their first characters: the second
        # request would be answered with the first one's replay (or refused as a reuse).
        return refusal(
            400,
            "invalid_idempotency_key",
            f"An Idempotency-Key has at most {IDEMPOTENCY_KEY_MAX} characters; this one has "
            f"{len(key)}. Use a shorter key, such as a UUID.",
        )
    if dry_run:
        # A preview changes nothing, so there is nothing to keep from happening twice; were it
        # to claim the key, the real request sent next with that key would be refused.
        key = ""
    body_hash = _body_hash(action_name, fingerprint or payload, dry_run)
    prompt_id = active_prompt_id(agent)
    actor = Actor.agent(agent.pk, agent.name, prompt_id)
    # One transaction for the record, the work and the count: a crash leaves none of them
    # behind (and frees the idempotency key), and the request commits once.
    with transaction.atomic():
        if key and (replayed := _replay(agent, key, body_hash)):
            return _take(agent, now) or replayed
        row = {
            "agent_id": agent.pk,
            "action": action_name,
            "payload": spec.recorded(payload),
            "mode": agent.mode,
            "prompt_version_id": prompt_id,
            "reason": reason[:500],
            "idempotency_key": key,
            "body_hash": body_hash,
            "created_at": now,
        }
        try:
            # Only a keyed request can clash with another; the savepoint is for that case.
            with transaction.atomic() if key else nullcontext():
                [[(record_id,)]] = batch.run(
                    [table_of(AgentAction).insert([row], returning=["id"])]
                )
        except IntegrityError:  # a concurrent retry with the same key got there first
            return (
                _take(agent, now)
                or _replay(agent, key, body_hash)
                or refusal(
                    406, "idempotency_key_in_progress", "A request with this key is still running."
                )
            )
        actor = replace(actor, action_id=record_id)
        record = AgentAction(pk=record_id, **row)
        result = _decide(agent, spec, actor, payload, record, dry_run=dry_run, reason=reason)
        outcome = (
            ActionOutcome.DRY_RUN
            if dry_run and result.status < 400
            else ActionOutcome.PENDING_APPROVAL
            if result.status == 202
            else ActionOutcome.DONE
            if result.status < 400
            else ActionOutcome.FAILED
        )
        kept = outcome in (ActionOutcome.DONE, ActionOutcome.PENDING_APPROVAL)
        finish = table_of(AgentAction).update(
            record_id,
            {"outcome": outcome, "response_status": result.status, "response_body": result.body,
             "credits": result.credits if kept else Decimal(0)},
        )  # fmt: skip
        _, taken = batch.run([finish, _count(agent, now)])
        if refused := _counted(agent, now, taken):
            return refused
    return Outcome(result.status, result.body)


def _decide(
    agent: Agent,
    spec: ActionSpec,
    actor: Actor,
    payload: dict[str, Any],
    record: AgentAction,
    *,
    dry_run: bool,
    reason: str,
) -> Result:
    gated = spec.gated and agent.mode == Mode.GATED and not dry_run
    if not (dry_run or spec.budgeted or gated):
        return _run(spec, actor, payload, dry_run=False)
    # Validate and price first: a bad request is refused now rather than after approval.
    preview = _run(spec, actor, payload, dry_run=True)
    if preview.status >= 400:
        return preview
    # A dry run answers what the real request would: a send past the budget is refused in both.
    if refused := _check_budget(agent, spec, preview, lock=not dry_run):
        return refused
    if dry_run:
        return preview
    if gated:
        return _hold_for_approval(agent, spec, payload, record, preview, reason)
    return _run(spec, actor, payload, dry_run=False)


def _check_budget(
    agent: Agent, spec: ActionSpec, preview: Result, *, lock: bool = True
) -> Result | None:
    if not spec.budgeted or agent.monthly_sms_budget is None:
        return None
    if lock:
        # Lock the agent for the rest of the transaction: two concurrent sends cannot both
        # fit into the last of the budget. (A dry run spends nothing, so it need not wait.)
        Agent.objects.select_for_update().filter(pk=agent.pk).first()
    if refused := _over_budget(agent, preview.credits, credits_spent_this_month(agent)):
        return Result(406, refused.as_dict())
    return None


def _over_budget(agent: Agent, price: Decimal, spent: Decimal) -> SwitchboardError | None:
    budget = agent.monthly_sms_budget
    if budget is None or spent + price <= budget:
        return None
    left = max(budget - spent, Decimal(0))
    return SwitchboardError(
        "agent_budget_exceeded",
        f"This costs {price} credits but the agent has {left} left of its monthly budget of "
        f"{budget}.",
        price=str(price),
        budget_left=str(left),
    )


def campaign_budget_at_start(*, campaign_id: int, cost: Decimal) -> SwitchboardError | None:
    """A campaign an agent scheduled is priced again when it starts, and its audience may have
    grown since: the agent's budget is checked against that price (in the month the agent
    asked, as when it asked), and the agent's action counts it from then on. Runs in the
    start's transaction; returns why it may not start, or None. One staff changed last is
    theirs to decide, not the agent's budget's."""
    action_id = (
        AuditEntry.objects.filter(
            object_type="campaign",
            object_id=str(campaign_id),
            action__in=["campaign.schedule", "campaign.update"],
        )
        .order_by("-at", "-id")
        .values_list("agent_action_id", flat=True)
        .first()
    )
    action = AgentAction.objects.select_related("agent").filter(pk=action_id).first()
    if action is None:
        return None
    agent, cost = action.agent, cost.quantize(CREDIT_PLACES)
    if agent.monthly_sms_budget is not None and cost > action.credits:
        Agent.objects.select_for_update().filter(pk=agent.pk).first()
        spent = _credits_spent(agent, action.created_at, besides=action.pk)
        if _over_budget(agent, cost, spent):
            budget = agent.monthly_sms_budget
            left = max(budget - spent, Decimal(0))
            return SwitchboardError(
                "agent_budget_exceeded",
                f"It did not start: its audience grew since {agent.name} scheduled it, and it "
                f"now costs {cost.normalize():f} credits ({action.credits.normalize():f} then), "
                f"but {agent.name} has {left.normalize():f} left of its monthly budget of "
                f"{budget.normalize():f}.",
            )
    AgentAction.objects.filter(pk=action.pk).update(credits=cost)
    return None


def _check_budget_on_approval(request: ApprovalRequest, price: Decimal) -> None:
    """The price the approved action ran at against the agent's budget, this request's own
    hold set aside: a text edited longer (or an audience grown) since the agent asked must
    still fit. Raising rolls the run and the claim back; the request keeps waiting. The
    caller holds the agent's lock."""
    agent = request.agent
    # The request's credits count in the month it was asked in, as its hold did.
    spent = _credits_spent(agent, request.created_at, besides=request.agent_action_id)
    if refused := _over_budget(agent, price, spent):
        raise SwitchboardError(
            refused.code,
            f"{refused.message} Approved, it would go past that budget: shorten the text, ask "
            "an admin to raise the budget, or reject the request.",
            **refused.details,
        )


def _hold_for_approval(
    agent: Agent,
    spec: ActionSpec,
    payload: dict[str, Any],
    record: AgentAction,
    preview: Result,
    reason: str,
) -> Result:
    request = ApprovalRequest.objects.create(
        agent=agent,
        agent_action=record,
        action=spec.name,
        payload=payload,
        reason=reason[:500],
        prompt_version_id=record.prompt_version_id,
        expires_at=timezone.now() + dt.timedelta(hours=settings.AGENT_APPROVAL_TTL_HOURS),
    )
    preview_body = {k: v for k, v in preview.body.items() if k != "dry_run"}
    return Result(
        202,
        {
            "status": "pending_approval",
            "approval_id": request.pk,
            "expires_at": request.expires_at.isoformat(),
            "message": "A staff member has to approve this before it runs.",
            "preview": preview_body,
        },
        credits=preview.credits,
    )


# --- Staff decisions --------------------------------------------------------------------------


def expire_stale() -> int:
    """Mark pending requests past their time as expired (and audit it); they never run.

    Each row is claimed with its own conditional UPDATE, so two sweeps running at once (two
    open queue pages) expire and audit each request once.
    """
    now = timezone.now()
    stale = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, expires_at__lte=now)
    expired = 0
    for request in stale.only("pk", "agent_action_id", "action", "status"):
        with transaction.atomic():
            claimed = ApprovalRequest.objects.filter(
                pk=request.pk, status=ApprovalStatus.PENDING
            ).update(status=ApprovalStatus.EXPIRED, decided_at=now)
            if not claimed:
                continue
            _never_runs(
                request, Actor.system("approval expiry"), "approval.expire",
                {"status": ["pending", "expired"]},
            )  # fmt: skip
        expired += 1
    return expired


def _never_runs(
    request: ApprovalRequest, actor: Actor, action: str, changes: dict[str, list[Any]]
) -> None:
    """A request claimed out of pending for good: its action failed, the credits it held
    for the agent's budget freed, and the decision audited."""
    AgentAction.objects.filter(
        pk=request.agent_action_id, outcome=ActionOutcome.PENDING_APPROVAL
    ).update(outcome=ActionOutcome.FAILED, credits=0)
    audit.record(actor=actor, action=action, obj=request, changes=changes)


@transaction.atomic
def withdraw(*, request_id: int, actor: Actor, note: str) -> bool:
    """Take back a pending request before any staff member decides on it (its person was
    erased, its agent switched off); False when it was decided already."""
    claimed = ApprovalRequest.objects.filter(pk=request_id, status=ApprovalStatus.PENDING).update(
        status=ApprovalStatus.WITHDRAWN,
        decided_at=timezone.now(),
        decision_note=note[:500],
        # The admin who switched the agent off; none when the system did it (an erasure).
        decided_by_id=actor.user_id,
    )
    if claimed:
        request = ApprovalRequest.objects.get(pk=request_id)
        _never_runs(request, actor, "approval.withdraw", {"status": ["pending", "withdrawn"]})
    return bool(claimed)


def _claim(request_id: int, user: Any, status: str, note: str) -> ApprovalRequest:
    """Move a pending request to ``status`` for this user; only one decision can win."""
    if not is_staff_member(user):
        raise SwitchboardError("not_allowed", "Only staff members can decide approval requests.")
    expire_stale()
    now = timezone.now()
    claimed = ApprovalRequest.objects.filter(
        pk=request_id, status=ApprovalStatus.PENDING, expires_at__gt=now
    ).update(status=status, decided_by=user, decided_at=now, decision_note=note[:500])
    request = ApprovalRequest.objects.select_related("agent").filter(pk=request_id).first()
    if request is None:
        raise SwitchboardError("unknown_approval", f"There is no approval request {request_id}.")
    if not claimed:
        raise SwitchboardError(
            "approval_already_decided",
            f"This request was already {request.get_status_display().lower()}.",
            status=request.status,
        )
    return request


def approve(
    *, request_id: int, user: Any, edited_text: str | None = None, note: str = ""
) -> ApprovalRequest:
    """Run the held action once, as the agent asked for it (or with the text staff edited)."""
    if edited_text is not None:
        _check_edit(request_id, edited_text)
    # Claim and run in one transaction: a process that dies in between leaves the request
    # pending with nothing done, never approved but not run. (Expiry is committed first so a
    # refused late approval still leaves the request marked expired.)
    expire_stale()
    with transaction.atomic():
        request = _claim(request_id, user, ApprovalStatus.APPROVED, note)
        spec = ACTIONS[request.action]
        _check_approver(user, spec)
        _check_still_allowed(request.agent, spec)
        payload = dict(request.payload)
        if edited_text is not None and spec.editable and edited_text != payload.get(spec.editable):
            request.original_payload = dict(request.payload)
            payload[spec.editable] = edited_text
            request.payload = payload
        agent = request.agent
        actor = replace(
            Actor.agent(agent.pk, agent.name, request.prompt_version_id),
            action_id=request.agent_action_id,
        )
        budgeted = spec.budgeted and agent.monthly_sms_budget is not None
        if budgeted:
            # Locked before the run takes the credit account: the order ``perform`` takes
            # them in, so an approval and the agent's own next send cannot deadlock.
            Agent.objects.select_for_update().filter(pk=agent.pk).first()
        result = _run(spec, actor, _due_now_if_passed(payload), dry_run=False)
        if budgeted and result.status < 400:
            _check_budget_on_approval(request, result.credits)
        if result.body.get("code") in WAITS_ON_REFUSAL:
            # Not for good: the claim is rolled back and the request waits for the top-up.
            details = dict(result.body)
            code, message = details.pop("code"), details.pop("message", "")
            raise SwitchboardError(
                code, f"{message} The request keeps waiting: approve it again then, or reject it.",
                **details,
            )  # fmt: skip
        request.status = ApprovalStatus.EXECUTED if result.status < 400 else ApprovalStatus.FAILED
        request.result = {"status": result.status, **result.body}
        request.save(update_fields=["status", "result", "payload", "original_payload"])
        AgentAction.objects.filter(pk=request.agent_action_id).update(
            outcome=ActionOutcome.DONE if result.status < 400 else ActionOutcome.FAILED,
            credits=result.credits if result.status < 400 else 0,
        )
        changes = {"status": ["pending", request.status]}
        if request.original_payload:
            changes["text"] = [request.original_payload.get(spec.editable), edited_text]
        audit.record(
            actor=Actor.staff(user), action="approval.approve", obj=request, changes=changes
        )
    return request


# Refusals an approval can outlive: the request stays pending rather than failing for good.
WAITS_ON_REFUSAL = frozenset({"insufficient_credits"})


def _check_approver(user: Any, spec: ActionSpec) -> None:
    """An admin's approval for what only admins do by hand (the claim is rolled back; the
    request keeps waiting for an admin, and any staff member may still reject it)."""
    if spec.admin_approval and not is_admin(user):
        raise SwitchboardError(
            "not_allowed",
            "Only an admin can approve an erasure, as only admins erase people; "
            "ask one to approve it, or reject it.",
        )


def _check_still_allowed(agent: Agent, spec: ActionSpec) -> None:
    """Approval runs the action as the agent: not once the agent was switched off or lost the
    scope it needs since it asked (the claim is rolled back; the request keeps waiting)."""
    if not agent.is_active:
        raise SwitchboardError(
            "agent_switched_off",
            f"{agent.name} was switched off after it asked, so this cannot run as it; "
            "reject the request.",
        )
    if not agent.has_scope(spec.scope):
        raise SwitchboardError(
            "missing_scope",
            f"{agent.name} no longer has the “{spec.scope}” scope this needs, so it cannot "
            "run as it; reject the request, or give the agent the scope back first.",
        )


def _due_now_if_passed(payload: dict[str, Any]) -> dict[str, Any]:
    """A held send whose ``schedule_at`` went by while it waited for approval goes out when
    staff approve it, instead of failing as scheduled in the past; so does a held campaign
    whose ``send_at`` went by."""
    if payload.get("schedule") in ("at", "local"):
        passed = campaign_schedule.has_passed(
            mode=payload["schedule"], when=payload.get("send_at"),
            time_zone=payload.get("time_zone") or "UTC", now=timezone.now(),
        )  # fmt: skip
        return {**payload, "schedule": "now", "send_at": None} if passed else payload
    try:
        moment = parse_schedule(payload.get("schedule_at"))
    except SwitchboardError:
        return payload  # the action refuses it with its own message
    return {**payload, "schedule_at": None} if moment and moment <= timezone.now() else payload


def _check_edit(request_id: int, edited_text: str) -> None:
    """Preview the edited action before claiming the request: a text that cannot be sent is
    refused with its message and the request stays pending, the edit not lost."""
    request = ApprovalRequest.objects.select_related("agent").filter(pk=request_id).first()
    if request is None or request.status != ApprovalStatus.PENDING:
        return  # _claim answers with the right error
    spec = ACTIONS[request.action]
    if not spec.editable:
        return
    agent = request.agent
    actor = Actor.agent(agent.pk, agent.name, request.prompt_version_id)
    payload = _due_now_if_passed({**request.payload, spec.editable: edited_text})
    preview = _run(spec, actor, payload, dry_run=True)
    if preview.status >= 400:
        body = dict(preview.body)
        code, message = body.pop("code", "invalid_edit"), body.pop("message", "")
        raise SwitchboardError(code, message, **body)


def reject(*, request_id: int, user: Any, note: str = "") -> ApprovalRequest:
    # The claim, the freed credits and the audit entry commit together: a crash in between
    # must not leave a rejection nobody can trace, its credits still held. (Expiry first, on
    # its own, as in ``approve``.)
    expire_stale()
    with transaction.atomic():
        request = _claim(request_id, user, ApprovalStatus.REJECTED, note)
        _never_runs(
            request, Actor.staff(user), "approval.reject",
            {"status": ["pending", "rejected"], "note": [None, note or None]},
        )  # fmt: skip
    return request


def approval_status(agent: Agent, request_id: int) -> dict[str, Any]:
    """What a gated agent sees when it polls its request."""
    expire_stale()
    request = ApprovalRequest.objects.filter(pk=request_id, agent=agent).first()
    if request is None:
        raise SwitchboardError("unknown_approval", f"There is no approval request {request_id}.")
    return {
        "id": request.pk,
        "action": request.action,
        "status": request.status,
        "created_at": request.created_at.isoformat(),
        "expires_at": request.expires_at.isoformat(),
        "decided_at": request.decided_at.isoformat() if request.decided_at else None,
        "decision_note": request.decision_note,
        "result": request.result or None,
    }
