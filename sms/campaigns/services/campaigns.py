"""The campaign lifecycle: compose (dry run), schedule, edit, start, fan out, pause, resume,
cancel, finish, send again to the failed.

Concurrency and crashes: every step is a conditional UPDATE or runs under the campaign row's
lock, in one transaction, so a killed worker leaves either all of a step or none of it.

- Start freezes the audience into ``Recipient`` rows, cuts them into ``Batch`` rows and
  reserves the whole cost with one conditional UPDATE of the balance (one ledger entry).
- Each batch becomes messages in one transaction: the batch's share of the reservation is
  released and charged to its messages (``create_messages``), so the ledger always sums to the
  balance. Message keys are ``campaign-<id>-<recipient id>``: unique, so a batch run twice
  cannot create a message twice.
- A running campaign is driven by ``run_campaign``, a task that first books its own successor
  (a conditional UPDATE of ``tick_at``) and then works: a worker killed mid-step leaves the
  next heartbeat queued, which picks up the unfinished batch once its claim has expired.
- Sending is ``sms.services.messages``' worker loop; the campaign only enqueues it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from dashboard import audit
from dashboard.actors import Actor, ActorKind
from dashboard.errors import SwitchboardError
from sms.campaigns.models import (
    ACTIVE,
    Batch,
    BatchStatus,
    Campaign,
    CampaignStatus,
    Recipient,
    ScheduleMode,
)
from sms.campaigns.services import schedule
from sms.campaigns.services.audience import Screening, resolve_audience, screen
from sms.campaigns.services.fanout import insert_batch_messages, insert_recipients
from sms.models import CreditAccount, CreditEntry, EntryKind, Message, MessageEvent, Status
from sms.services import credits
from sms.services.messages import client_key

log = logging.getLogger(__name__)

NAME_MAX = 120
WORK_BUDGET = dt.timedelta(seconds=20)  # one heartbeat creates batches for at most this long
IDLE_TICK = dt.timedelta(seconds=60)
UNSENT = [Status.PENDING, Status.SCHEDULED, Status.HELD]
IN_FLIGHT = [*UNSENT, Status.SENDING]
TERMINAL = {CampaignStatus.COMPLETED, CampaignStatus.CANCELLED}
# A campaign sent now keeps the audience screened when it was sent if it starts within this;
# later (no worker was free) it is screened again, as a scheduled one is when it starts.
FROZEN_FRESH = dt.timedelta(seconds=60)


@dataclass
class CampaignOutcome:
    campaign: Campaign | None  # None on a dry run
    screening: Screening | None
    replayed: bool = False


def _actor_fields(actor: Actor) -> dict:
    return {
        "actor_kind": actor.kind, "actor_user_id": actor.user_id, "actor_ref": actor.ref,
        "actor_label": actor.label,
    }  # fmt: skip


def campaign_actor(campaign: Campaign) -> Actor:
    """Who the campaign's messages are from: whoever started it."""
    return Actor(
        ActorKind(campaign.actor_kind), label=campaign.actor_label,
        user_id=campaign.actor_user_id, ref=campaign.actor_ref,
    )  # fmt: skip


def get_campaign(campaign_id: object) -> Campaign:
    try:
        return Campaign.objects.get(pk=int(campaign_id))  # type: ignore[arg-type]
    except (Campaign.DoesNotExist, TypeError, ValueError):
        raise SwitchboardError(
            "unknown_campaign", f"There is no campaign with id {campaign_id}."
        ) from None


def _clean_name(name: str, fallback: str) -> str:
    name = " ".join((name or "").split()) or fallback
    if len(name) > NAME_MAX:
        raise SwitchboardError(
            "invalid_name", f"A campaign name has at most {NAME_MAX} characters.", field="name"
        )
    return name


def _quiet(raw: object, kind: str) -> tuple[dt.time, dt.time] | None:
    """Quiet hours: "" none, None the default for marketing, or "HH:MM-HH:MM"."""
    if raw is None:
        return schedule.default_quiet_hours() if kind == "marketing" else None
    if isinstance(raw, tuple):
        return raw
    return schedule.parse_quiet_hours(str(raw))


def _check(screening: Screening) -> None:
    if screening.count == 0:
        reasons = ", ".join(f"{n} {label}" for _, label, n in screening.exclusion_rows() if n)
        raise SwitchboardError(
            "empty_audience",
            "Nobody in this audience can receive it"
            + (f" ({reasons})." if reasons else ": it has no contacts."),
            field="audience",
        )
    if not screening.covered:
        raise SwitchboardError(
            "insufficient_credits",
            f"Not enough credits: this campaign needs {screening.cost.normalize():f}, the balance "
            f"is {screening.balance.normalize():f}. An admin can top up on the Credits page.",
            needed=str(screening.cost),
            balance=str(screening.balance),
        )


def start_campaign(
    *,
    actor: Actor,
    text: str,
    audience_kind: str,
    audience_id: object,
    name: str = "",
    kind: str = "marketing",
    schedule_mode: str = ScheduleMode.NOW,
    send_at: object = None,
    time_zone: str = "UTC",
    quiet_hours: object = None,
    dry_run: bool = False,
    idempotency_key: str | None = None,
) -> CampaignOutcome:
    """Check, count and price a campaign, and schedule it (``now`` starts within seconds).

    ``dry_run`` answers the counts, exclusions, cost and samples and writes nothing. The same
    ``idempotency_key`` twice returns the first campaign (a second click on Send).
    """
    idempotency_key = client_key(idempotency_key)
    if replayed := _replay(idempotency_key):
        return replayed
    now = timezone.now()
    timing = schedule.plan_timing(mode=schedule_mode, when=send_at, time_zone=time_zone, now=now)
    quiet = _quiet(quiet_hours, kind)
    screening = screen(kind=kind, audience_kind=audience_kind, audience_id=audience_id, text=text)
    _check(screening)
    if dry_run:
        return CampaignOutcome(None, screening)
    _, label = resolve_audience(audience_kind, audience_id)
    try:
        campaign = _schedule(actor, name=name, text=text, kind=kind, audience_kind=audience_kind,
                             audience_id=audience_id, label=label, timing=timing, quiet=quiet,
                             screening=screening, idempotency_key=idempotency_key, now=now)  # fmt: skip
    except IntegrityError:
        # The other click of a double click got there first, while this one was screening.
        if replayed := _replay(idempotency_key):
            return replayed
        raise
    return CampaignOutcome(campaign, screening)


def _replay(idempotency_key: str | None) -> CampaignOutcome | None:
    """The campaign a request with this key already made (a second click on Send)."""
    if not idempotency_key:
        return None
    existing = Campaign.objects.filter(idempotency_key=idempotency_key).first()
    return CampaignOutcome(existing, None, replayed=True) if existing else None


def _schedule(
    actor: Actor, *, name: str, text: str, kind: str, audience_kind: str, audience_id: object,
    label: str, timing: schedule.Timing, quiet, screening: Screening,
    idempotency_key: str | None, now: dt.datetime,
) -> Campaign:  # fmt: skip
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=_clean_name(name, f"{label[:80]} {timezone.localtime(now):%d %b %H:%M}"),
            text=text, kind=kind, audience_kind=audience_kind, audience_id=int(audience_id),
            audience_label=label[:200], **_timing_fields(timing, quiet),
            idempotency_key=idempotency_key or None, recipients=screening.count,
            cost=screening.cost, excluded=screening.excluded, created_at=now, updated_at=now,
            tick_at=timing.start_at, **_actor_fields(actor),
        )  # fmt: skip
        if timing.mode == ScheduleMode.NOW:
            _freeze_now(campaign, screening, now)
        audit.record(
            actor=actor, action="campaign.schedule", obj=campaign,
            changes={"audience": [None, label], "recipients": [None, screening.count],
                     "cost": [None, str(screening.cost)], "start_at": [None, str(timing.start_at)]},
        )  # fmt: skip
        _enqueue_run(campaign.pk, timing.start_at)
    return campaign


def _freeze_now(campaign: Campaign, screening: Screening, now: dt.datetime) -> None:
    """A campaign sent now keeps the audience just screened for it, so the heartbeat that
    starts it seconds later need not screen it again. Someone who says STOP meanwhile is still
    not texted: each message is checked against the opt-outs when it is sent."""
    batches = _freeze(campaign, screening, now)
    Campaign.objects.filter(pk=campaign.pk).update(batches_total=batches)
    campaign.batches_total = batches


def _timing_fields(timing: schedule.Timing, quiet) -> dict:
    return {
        "schedule_mode": timing.mode, "time_zone": timing.time_zone,
        "start_at": timing.start_at, "send_at": timing.send_at,
        # The wall clock is kept as if it were UTC: it belongs to no zone until a recipient's.
        "local_at": timing.local_at.replace(tzinfo=dt.UTC) if timing.local_at else None,
        "quiet_start": quiet[0] if quiet else None, "quiet_end": quiet[1] if quiet else None,
    }  # fmt: skip


def _enqueue_run(campaign_id: int, when: dt.datetime | None = None) -> None:
    from sms.campaigns.tasks import run_campaign_task

    def enqueue() -> None:
        task = run_campaign_task
        if when is not None and when > timezone.now():
            task = task.using(run_after=when)
        task.enqueue(campaign_id)

    transaction.on_commit(enqueue)


def update_campaign(*, actor: Actor, campaign: Campaign, **changes) -> Campaign:
    """Change a scheduled campaign (text, audience, schedule, name). Same checks as creating."""
    fields = {
        "text": campaign.text, "audience_kind": campaign.audience_kind,
        "audience_id": campaign.audience_id, "name": campaign.name, "kind": campaign.kind,
        "schedule_mode": campaign.schedule_mode, "time_zone": campaign.time_zone,
        "send_at": schedule.scheduled_wall_clock(campaign),
        "quiet_hours": schedule.quiet_hours_text(campaign),
    }  # fmt: skip
    unknown = set(changes) - set(fields)
    if unknown:
        raise TypeError(f"unknown campaign fields: {sorted(unknown)}")
    fields |= changes
    now = timezone.now()
    timing = schedule.plan_timing(
        mode=fields["schedule_mode"], when=fields["send_at"], time_zone=fields["time_zone"], now=now
    )
    quiet = _quiet(fields["quiet_hours"], fields["kind"])
    screening = screen(
        kind=fields["kind"], audience_kind=fields["audience_kind"],
        audience_id=fields["audience_id"], text=fields["text"],
    )  # fmt: skip
    _check(screening)
    _, label = resolve_audience(fields["audience_kind"], fields["audience_id"])
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.SCHEDULED:
            raise SwitchboardError(
                "not_editable", f"This campaign is {locked.get_status_display().lower()}; only "
                "a scheduled campaign can be changed.",
            )  # fmt: skip
        before = {"text": locked.text, "audience": locked.audience_label,
                  "start_at": str(locked.start_at), "name": locked.name}  # fmt: skip
        values = {
            "name": _clean_name(fields["name"], locked.name), "text": fields["text"],
            "kind": fields["kind"], "audience_kind": fields["audience_kind"],
            "audience_id": int(fields["audience_id"]), "audience_label": label[:200],
            **_timing_fields(timing, quiet), "recipients": screening.count, "cost": screening.cost,
            "excluded": screening.excluded, "tick_at": timing.start_at, "updated_at": now,
            "batches_total": 0,
        }  # fmt: skip
        for key, value in values.items():
            setattr(locked, key, value)
        locked.save(update_fields=list(values))
        _unfreeze(locked)
        if timing.mode == ScheduleMode.NOW:
            _freeze_now(locked, screening, now)
        after = {"text": locked.text, "audience": locked.audience_label,
                 "start_at": str(locked.start_at), "name": locked.name}  # fmt: skip
        audit.record(
            actor=actor, action="campaign.update", obj=locked, changes=audit.diff(before, after)
        )
        _enqueue_run(locked.pk, timing.start_at)
    return locked


def _quiet_of(campaign: Campaign) -> tuple[dt.time, dt.time] | None:
    if campaign.quiet_start is None or campaign.quiet_end is None:
        return None
    return (campaign.quiet_start, campaign.quiet_end)


# --- The heartbeat -------------------------------------------------------------------------


def run_campaign(*, campaign_id: int) -> str:
    """Do whatever is next for a campaign: start it when due, turn batches into messages,
    hand due messages to the sending workers, and finish it. Safe in many workers at once."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status in TERMINAL:
        return "gone" if campaign is None else campaign.status
    now = timezone.now()
    if campaign.status == CampaignStatus.SCHEDULED:
        if campaign.start_at > now:
            return "waiting"
        _book_next_tick(campaign, now + dt.timedelta(seconds=settings.CAMPAIGN_TICK_SECONDS))
        _start(campaign)
        campaign.refresh_from_db()
        if campaign.status != CampaignStatus.RUNNING:
            return campaign.status
    if campaign.status == CampaignStatus.PAUSED:
        return "paused"
    _book_next_tick(campaign, now + dt.timedelta(seconds=settings.CAMPAIGN_TICK_SECONDS))
    deadline = timezone.now() + WORK_BUDGET
    while timezone.now() < deadline and _create_next_batch(campaign):
        pass
    _enqueue_sending(campaign)
    if _finish_if_done(campaign):
        return "completed"
    return "running"


def _book_next_tick(campaign: Campaign, when: dt.datetime) -> None:
    """Queue the next heartbeat before working, so a worker killed mid-step does not stop the
    campaign. Only one run may book it (conditional UPDATE), so heartbeats do not multiply."""
    now = timezone.now()
    with transaction.atomic():
        booked = (
            Campaign.objects.filter(pk=campaign.pk, status__in=[*ACTIVE, CampaignStatus.SCHEDULED])
            .filter(Q(tick_at__isnull=True) | Q(tick_at__lte=now))
            .update(tick_at=when)
        )
        if booked:
            _enqueue_run(campaign.pk, when)


def _start(campaign: Campaign) -> None:
    """Freeze the audience, reserve its cost, cut it into batches. A campaign sent "now" that
    starts within ``FROZEN_FRESH`` keeps the audience frozen when it was sent
    (``start_campaign``); any other is screened and frozen here."""
    now = timezone.now()
    screening = None
    fresh = now - campaign.updated_at <= FROZEN_FRESH
    if not (fresh and Batch.objects.filter(campaign_id=campaign.pk).exists()):
        try:
            screening = screen(
                kind=campaign.kind, audience_kind=campaign.audience_kind,
                audience_id=campaign.audience_id, text=campaign.text,
            )  # fmt: skip
            _check(screening)
        except SwitchboardError as exc:
            _give_up(campaign, _at_start(campaign, exc))
            return
    with transaction.atomic():
        refused = _start_locked(campaign, screening, now)
    if refused is not None:
        # After the rolled-back transaction: inside it, recording why would fail too.
        _give_up(campaign, refused)


def _start_locked(
    campaign: Campaign, screening: Screening | None, now: dt.datetime
) -> SwitchboardError | None:
    """``_start``'s transaction: returns why it cannot start (having rolled back), or None."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status != CampaignStatus.SCHEDULED or locked.start_at > now:
        return None  # another worker started it, or it was cancelled or moved
    if screening is None and not Batch.objects.filter(campaign_id=locked.pk).exists():
        return None  # edited meanwhile: the next heartbeat screens and starts it
    if screening is not None:  # a late start drops what was frozen when it was sent
        _unfreeze(locked)
    cost = locked.cost if screening is None else screening.cost
    if locked.actor_kind == ActorKind.AGENT:
        # Imported here: the agents' pipeline imports the campaign services.
        from dashboard.agents.pipeline import campaign_budget_at_start

        if refused := campaign_budget_at_start(campaign_id=locked.pk, cost=cost):
            transaction.set_rollback(True)
            return refused
    try:
        _reserve(locked, cost)
    except SwitchboardError as exc:
        transaction.set_rollback(True)
        return exc
    values = {"status": CampaignStatus.RUNNING, "reserved": cost, "started_at": now,
              "updated_at": now}  # fmt: skip
    if screening is not None:
        values |= {"recipients": screening.count, "excluded": screening.excluded,
                   "cost": screening.cost, "batches_total": _freeze(locked, screening, now)}  # fmt: skip
    for key, value in values.items():
        setattr(locked, key, value)
    locked.save(update_fields=list(values))
    audit.record(
        actor=Actor.system("campaigns"), action="campaign.start", obj=locked,
        changes={"recipients": [None, locked.recipients], "reserved": [None, str(cost)]},
    )  # fmt: skip
    return None


def _at_start(
    campaign: Campaign, exc: SwitchboardError, outcome: str = "It did not start"
) -> SwitchboardError:
    """The screening's error as staff read it on a campaign that is due: "choose another
    audience" was meant for the composer; here the audience went after it was scheduled."""
    if exc.code in {"unknown_list", "unknown_tag", "unknown_segment"}:
        return SwitchboardError(
            exc.code,
            f"{outcome}: the {campaign.audience_label} it was sent to no longer exists.",
        )
    if exc.code == "invalid_segment_rule":  # e.g. a tag or list its rules name was deleted
        return SwitchboardError(
            exc.code,
            f"{outcome}: the rules of the {campaign.audience_label} it was sent to are no "
            f"longer valid ({exc.message}). Fix the segment, then schedule the campaign again.",
        )
    return exc


def audience_problem(campaign: Campaign) -> str:
    """Why a scheduled campaign's list, tag or segment would stop it starting; "" if none."""
    if campaign.status != CampaignStatus.SCHEDULED:
        return ""
    try:
        resolve_audience(campaign.audience_kind, campaign.audience_id)
    except SwitchboardError as exc:
        return _at_start(campaign, exc, "It will not start").message
    return ""


def _freeze(campaign: Campaign, screening: Screening, now: dt.datetime) -> int:
    """Write the screened audience as ``Recipient`` rows, each with when it is due, cut into
    batches; returns the number of batches. The caller holds the transaction."""
    quiet = _quiet_of(campaign)
    local_at = campaign.local_at.replace(tzinfo=None) if campaign.local_at else None
    size = settings.CAMPAIGN_BATCH_SIZE
    due_cache: dict[str, dt.datetime | None] = {}
    rows = []
    for i, c in enumerate(screening.recipients):
        if c.time_zone not in due_cache:
            due_cache[c.time_zone] = schedule.due_at(
                mode=campaign.schedule_mode, send_at=campaign.send_at, local_at=local_at,
                time_zone=c.time_zone, quiet=quiet, now=now,
            )  # fmt: skip
        rows.append((
            campaign.pk, c.contact_id, c.phone, c.country, due_cache[c.time_zone], i // size,
            "" if c.text == campaign.text else c.text, c.encoding, c.segments, c.price,
        ))  # fmt: skip
    insert_recipients(rows)
    batches = (len(rows) + size - 1) // size
    Batch.objects.bulk_create([Batch(campaign=campaign, number=n) for n in range(batches)])
    return batches


def _unfreeze(campaign: Campaign) -> None:
    """Forget the audience ``_freeze`` wrote, before it is screened and frozen again."""
    Batch.objects.filter(campaign_id=campaign.pk).delete()
    Recipient.objects.filter(campaign_id=campaign.pk).delete()


def _reserve(campaign: Campaign, amount: Decimal) -> None:
    credits.ensure_account()
    taken = CreditAccount.objects.filter(pk=credits.ACCOUNT_ID, balance__gte=amount).update(
        balance=F("balance") - amount
    )
    if not taken:
        balance = credits.get_balance()
        raise SwitchboardError(
            "insufficient_credits",
            f"Not enough credits to start: it needs {amount.normalize():f}, the balance is "
            f"{balance.normalize():f}.",
        )
    CreditEntry.objects.create(
        kind=EntryKind.CHARGE, amount=-amount,
        note=f"Campaign #{campaign.pk}: reserved for {campaign.recipients or ''} recipients".replace("  ", " "),
        **_actor_fields(campaign_actor(campaign)),
    )  # fmt: skip


def _release(campaign: Campaign, amount: Decimal, note: str) -> None:
    """Give part of the campaign's reservation back to the balance (caller's transaction)."""
    if amount <= 0:
        return
    CreditAccount.objects.filter(pk=credits.ACCOUNT_ID).update(balance=F("balance") + amount)
    _record_release(campaign, amount, note)


def _record_release(campaign: Campaign, amount: Decimal, note: str) -> None:
    """The ledger entry and the campaign's reservation for a release (not the balance)."""
    if amount <= 0:
        return
    CreditEntry.objects.create(
        kind=EntryKind.REFUND, amount=amount, note=f"Campaign #{campaign.pk}: {note}"[:200],
        **_actor_fields(campaign_actor(campaign)),
    )  # fmt: skip
    Campaign.objects.filter(pk=campaign.pk).update(reserved=F("reserved") - amount)


def _give_up(campaign: Campaign, exc: SwitchboardError) -> None:
    now = timezone.now()
    with transaction.atomic():
        done = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SCHEDULED).update(
            status=CampaignStatus.CANCELLED, finished_at=now, updated_at=now,
            excluded={**campaign.excluded, "problem": exc.message},
        )  # fmt: skip
        if done:
            audit.record(
                actor=Actor.system("campaigns"), action="campaign.failed_to_start",
                obj=campaign, changes={"problem": [None, exc.message]},
            )  # fmt: skip


def _claim_batch(campaign: Campaign) -> Batch | None:
    now = timezone.now()
    # A claim older than the lease: its worker died before committing the batch.
    lease = dt.timedelta(seconds=settings.CAMPAIGN_BATCH_LEASE)
    free = Q(status=BatchStatus.PENDING) | Q(status=BatchStatus.CLAIMED, claimed_at__lt=now - lease)
    for batch in Batch.objects.filter(free, campaign=campaign).order_by("number")[:5]:
        if Batch.objects.filter(free, pk=batch.pk).update(
            status=BatchStatus.CLAIMED, claimed_at=now
        ):
            return batch
    return None


def _create_next_batch(campaign: Campaign) -> bool:
    batch = _claim_batch(campaign)
    if batch is None:
        return False
    create_batch(batch_id=batch.pk)
    return True


def create_batch(*, batch_id: int) -> int:
    """Turn one claimed batch of recipients into messages, charged from the reservation."""
    with transaction.atomic():
        batch = Batch.objects.select_related("campaign").get(pk=batch_id)
        campaign = Campaign.objects.select_for_update().get(pk=batch.campaign_id)
        if batch.status == BatchStatus.DONE:
            return 0
        if campaign.status != CampaignStatus.RUNNING:
            Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.PENDING, claimed_at=None)
            return 0
        ids, total = insert_batch_messages(
            campaign=campaign, batch=batch.number, actor=campaign_actor(campaign)
        )
        # The batch's share of the reservation becomes its messages' charges: the release and
        # the charges cancel out, so the balance does not move and the ledger still sums to it.
        _record_release(campaign, total, f"batch {batch.number + 1} charged to its messages")
        Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.DONE, created=len(ids))
        Campaign.objects.filter(pk=campaign.pk).update(
            batches_done=F("batches_done") + 1, updated_at=timezone.now()
        )
        if campaign.batches_done + 1 >= campaign.batches_total:
            Campaign.objects.filter(pk=campaign.pk, created_all_at__isnull=True).update(
                created_all_at=timezone.now()
            )
        _enqueue_delivery_for(campaign, batch.number, ids)
    return len(ids)


def _enqueue_delivery_for(campaign: Campaign, number: int, ids: list[int]) -> None:
    from sms.tasks import deliver_messages

    if not ids:
        return
    # When this batch's messages are due (its recipients carry the times).
    due = Recipient.objects.filter(campaign=campaign, batch=number).order_by()
    now_too = due.filter(send_after__isnull=True).exists()
    # A local-time campaign has one time per zone; quiet hours add a few.
    times = sorted(
        set(
            due.filter(send_after__isnull=False)
            .values_list("send_after", flat=True)
            .distinct()[:50]
        )
    )

    def enqueue() -> None:
        if now_too:
            deliver_messages.enqueue()
        for when in times:
            deliver_messages.using(run_after=when).enqueue()

    transaction.on_commit(enqueue)


def _enqueue_sending(campaign: Campaign) -> None:
    """Make sure some worker is sending this campaign's due messages (the task that was doing
    it may have been killed): one delivery task per heartbeat while any are due."""
    from sms.tasks import deliver_messages

    if _any_message(campaign, [Status.SENDING]) or _any_message(
        campaign, [Status.PENDING, Status.SCHEDULED], due=timezone.now()
    ):
        deliver_messages.enqueue()


def _any_message(
    campaign: Campaign, statuses: list[Status], *, due: dt.datetime | None = None
) -> bool:
    """Whether any of the campaign's messages is in one of ``statuses`` (and, with ``due``, may
    go by then). Each query is one probe of sms_message_campaign_status (campaign, status,
    send_after) that stops at the first row: a heartbeat costs the same at the last message as
    at the first, instead of walking the campaign's messages already sent."""
    mine = Message.objects.filter(campaign_id=campaign.pk, status__in=statuses)
    if due is None:
        return mine.exists()
    # Two probes rather than one OR, which the index could only answer by a scan.
    return (
        mine.filter(send_after__isnull=True).exists() or mine.filter(send_after__lte=due).exists()
    )


def _next_due(campaign: Campaign, after: dt.datetime) -> dt.datetime | None:
    """When the campaign's next unsent message is due after ``after``: the first index entry
    after it for each unsent status."""
    mine = Message.objects.filter(campaign_id=campaign.pk, send_after__gt=after)
    times = [
        mine.filter(status=status).order_by("send_after").values_list("send_after", flat=True)[:1]
        for status in UNSENT
    ]
    return min((at for query in times for at in query), default=None)


def _finish_if_done(campaign: Campaign) -> bool:
    campaign.refresh_from_db()
    if campaign.status != CampaignStatus.RUNNING or campaign.batches_done < campaign.batches_total:
        return False
    if _any_message(campaign, IN_FLIGHT):
        # Nothing to do until the next message is due: sleep longer than a heartbeat.
        now = timezone.now()
        nxt = _next_due(campaign, now)
        if nxt and not _any_message(campaign, IN_FLIGHT, due=now):
            wake = min(nxt, now + IDLE_TICK)
            Campaign.objects.filter(pk=campaign.pk).update(tick_at=wake)
            _enqueue_run(campaign.pk, wake)
        return False
    now = timezone.now()
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.RUNNING:
            return False
        _release(locked, locked.reserved, "unused reservation returned")
        Campaign.objects.filter(pk=locked.pk).update(
            status=CampaignStatus.COMPLETED, finished_at=now, updated_at=now, tick_at=None
        )
        audit.record(actor=Actor.system("campaigns"), action="campaign.complete", obj=locked)
    return True


# --- Staff controls ------------------------------------------------------------------------


def pause_campaign(*, actor: Actor, campaign: Campaign) -> Campaign:
    """Stop handing messages to the provider; those already with it carry on."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.RUNNING:
            raise SwitchboardError(
                "not_running", f"Only a running campaign can be paused; this one is "
                f"{locked.get_status_display().lower()}.",
            )  # fmt: skip
        held = Message.objects.filter(
            campaign_id=locked.pk, status__in=[Status.PENDING, Status.SCHEDULED]
        ).update(status=Status.HELD, updated_at=timezone.now())
        locked.status, locked.updated_at = CampaignStatus.PAUSED, timezone.now()
        locked.save(update_fields=["status", "updated_at"])
        audit.record(actor=actor, action="campaign.pause", obj=locked,
                     changes={"status": ["running", "paused"], "held": [None, held]})  # fmt: skip
    return locked


def resume_campaign(*, actor: Actor, campaign: Campaign) -> Campaign:
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.PAUSED:
            raise SwitchboardError("not_paused", "Only a paused campaign can be resumed.")
        now = timezone.now()
        # Scheduled ones keep their time: "pending" with a future send_after is not yet due.
        released = Message.objects.filter(campaign_id=locked.pk, status=Status.HELD).update(
            status=Status.PENDING, updated_at=now
        )
        locked.status, locked.updated_at, locked.tick_at = CampaignStatus.RUNNING, now, now
        locked.save(update_fields=["status", "updated_at", "tick_at"])
        audit.record(actor=actor, action="campaign.resume", obj=locked,
                     changes={"status": ["paused", "running"], "released": [None, released]})  # fmt: skip
        _enqueue_run(locked.pk)
    return locked


def cancel_campaign(*, actor: Actor, campaign: Campaign) -> Campaign:
    """Stop for good: unsent messages are cancelled and every unspent credit comes back."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status in TERMINAL:
            raise SwitchboardError(
                "not_cancellable",
                f"This campaign is already {locked.get_status_display().lower()}.",
            )
        now = timezone.now()
        ids = list(
            Message.objects.filter(campaign_id=locked.pk, status__in=UNSENT).values_list(
                "pk", flat=True
            )
        )
        refunded = Decimal("0")
        for start in range(0, len(ids), 2000):
            chunk = ids[start : start + 2000]
            Message.objects.filter(pk__in=chunk, status__in=UNSENT).update(
                status=Status.CANCELLED, final_at=now, updated_at=now
            )
            cancelled = list(
                Message.objects.filter(pk__in=chunk, status=Status.CANCELLED).only("pk", "price")
            )
            refunded += _refund_cancelled(locked, cancelled, now)
        _release(locked, locked.reserved, "cancelled before these messages were created")
        before = locked.status
        locked.refresh_from_db()
        locked.status, locked.finished_at, locked.updated_at, locked.tick_at = (
            CampaignStatus.CANCELLED,
            now,
            now,
            None,
        )
        locked.save(update_fields=["status", "finished_at", "updated_at", "tick_at"])
        audit.record(actor=actor, action="campaign.cancel", obj=locked,
                     changes={"status": [before, "cancelled"], "cancelled_messages": [None, len(ids)],
                              "refunded": [None, str(refunded)]})  # fmt: skip
    return locked


def _refund_cancelled(campaign: Campaign, messages: list[Message], now: dt.datetime) -> Decimal:
    """One refund entry per message (they were charged one each) and one balance update."""
    actor = campaign_actor(campaign)
    entries = [
        CreditEntry(kind=EntryKind.REFUND, amount=m.price, message_id=m.pk, created_at=now,
                    note="campaign cancelled before sending", **_actor_fields(actor))
        for m in messages if m.price
    ]  # fmt: skip
    CreditEntry.objects.bulk_create(entries)
    MessageEvent.objects.bulk_create(
        [MessageEvent(message_id=m.pk, status=Status.CANCELLED, at=now, source="staff",
                      detail="campaign cancelled") for m in messages]
    )  # fmt: skip
    total = sum((e.amount for e in entries), Decimal("0"))
    if total:
        CreditAccount.objects.filter(pk=credits.ACCOUNT_ID).update(balance=F("balance") + total)
    return total


def resend_failed(
    *, actor: Actor, campaign: Campaign, idempotency_key: str | None = None
) -> CampaignOutcome:
    """A new campaign, sent now, to the recipients whose message failed or was undelivered."""
    idempotency_key = client_key(idempotency_key)
    if replayed := _replay(idempotency_key):
        return replayed
    if campaign.status != CampaignStatus.COMPLETED:
        raise SwitchboardError("not_finished", "Send again once this campaign has finished.")
    failed_phones = set(
        Message.objects.filter(
            campaign_id=campaign.pk, status__in=[Status.FAILED, Status.UNDELIVERED]
        ).values_list("to", flat=True)
    )
    if not failed_phones:
        raise SwitchboardError("nothing_failed", "No message of this campaign failed.")
    earlier = Campaign.objects.filter(resend_of=campaign)
    if earlier.exclude(status__in=TERMINAL).exists():
        raise SwitchboardError(
            "already_resending",
            "This campaign is already being sent again to the failed; wait until that finishes.",
        )
    # Whoever an earlier "send again" reached is not texted twice; whose it failed again is.
    failed_phones -= set(
        Message.objects.filter(campaign_id__in=earlier.values("pk"))
        .exclude(status__in=[Status.FAILED, Status.UNDELIVERED, Status.CANCELLED])
        .values_list("to", flat=True)
    )
    if not failed_phones:
        raise SwitchboardError(
            "nothing_failed", "Every failed message of this campaign was sent again already."
        )
    rows = list(Recipient.objects.filter(campaign=campaign, phone__in=failed_phones).order_by("pk"))
    cost = sum((r.price for r in rows), Decimal("0"))
    now = timezone.now()
    size = settings.CAMPAIGN_BATCH_SIZE
    try:
        with transaction.atomic():
            again = Campaign.objects.create(
                name=f"{campaign.name[:100]} (again to failed)", text=campaign.text, kind=campaign.kind,
                audience_kind=campaign.audience_kind, audience_id=campaign.audience_id,
                audience_label=f"failed recipients of #{campaign.pk}", schedule_mode=ScheduleMode.NOW,
                time_zone=campaign.time_zone, start_at=now, status=CampaignStatus.RUNNING,
                idempotency_key=idempotency_key or None, resend_of=campaign, recipients=len(rows),
                cost=cost, reserved=Decimal("0"), batches_total=(len(rows) + size - 1) // size,
                started_at=now, created_at=now, updated_at=now, tick_at=None, **_actor_fields(actor),
            )  # fmt: skip
            _reserve(again, cost)
            Campaign.objects.filter(pk=again.pk).update(reserved=cost)
            Recipient.objects.bulk_create([
                Recipient(campaign=again, contact_id=r.contact_id, phone=r.phone, country=r.country,
                          send_after=None, batch=i // size, text=r.text, encoding=r.encoding,
                          segments=r.segments, price=r.price)
                for i, r in enumerate(rows)
            ])  # fmt: skip
            Batch.objects.bulk_create(
                [Batch(campaign=again, number=n) for n in range(again.batches_total)]
            )
            audit.record(actor=actor, action="campaign.resend_failed", obj=again,
                         changes={"of": [None, campaign.pk], "recipients": [None, len(rows)]})  # fmt: skip
            _enqueue_run(again.pk)
    except IntegrityError:
        # The other click of a double click got there first.
        if replayed := _replay(idempotency_key):
            return replayed
        raise
    again.refresh_from_db()
    return CampaignOutcome(again, None)


def kick_overdue(*, grace: dt.timedelta = dt.timedelta(seconds=30)) -> int:
    """Re-queue the heartbeat of campaigns whose next one is long overdue (the task carrying
    it died with its worker). Called by the campaign pages and ``manage.py campaign``."""
    cutoff = timezone.now() - grace
    ids = list(
        Campaign.objects.filter(status__in=[*ACTIVE, CampaignStatus.SCHEDULED], tick_at__lt=cutoff)
        .exclude(status=CampaignStatus.PAUSED)
        .values_list("pk", flat=True)
    )
    for pk in ids:
        _enqueue_run(pk)
    return len(ids)
