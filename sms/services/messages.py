"""Sending SMS: check, price and queue a message; send what is due, concurrently; move messages
through their states on provider reports.

States (ARCHITECTURE §5)::

    scheduled ─┐
    pending ───┴─> sending ──> sent ──> delivered | undelivered | failed
       └─> cancelled               └──> failed (rejected at send: refunded)

``send_sms`` is what staff pages, the agent API and approvals call; campaigns use
``prepare_message`` and ``create_messages`` to queue many at once. A worker runs
``send_due_messages``: it claims a batch with one conditional UPDATE, hands the batch to the
gateway from a thread pool (the only slow part is the provider's latency), then records every
outcome in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
import uuid
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Min
from django.utils import timezone

from contacts.models import Contact, Field, FieldValue, InteractionKind
from contacts.phones import normalise_phone
from contacts.services.history import build_interaction
from contacts.services.suppression import suppression_reason
from dashboard import audit
from dashboard.actors import Actor
from dashboard.bulk import insert_rows
from dashboard.errors import SwitchboardError
from sms.gateways import get_gateway
from sms.gateways.base import Gateway, GatewayError, SendResult, StatusReport
from sms.models import (
    FINAL_STATUSES,
    DeliveryReport,
    Message,
    MessageEvent,
    MessageKind,
    Status,
    provider_key,
)
from sms.services import credits, horizon, optouts
from sms.services.encoding import analyse
from sms.services.lookup import describe

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{(\w+)\}")
CODE_PLACEHOLDER = "{code}"
# Where each state sits in the flow; a report may only move a message forward.
RANK = {
    Status.HELD: 0, Status.SCHEDULED: 0, Status.PENDING: 0, Status.SENDING: 1, Status.SENT: 2,
    Status.DELIVERED: 3, Status.UNDELIVERED: 3, Status.FAILED: 3, Status.CANCELLED: 3,
}  # fmt: skip
# Provider words (Twilio, Mailpro, sandbox) -> our states.
PROVIDER_STATUSES = {
    "queued": Status.SENT, "accepted": Status.SENT, "scheduled": Status.SENT,
    "sending": Status.SENT, "sent": Status.SENT, "delivered": Status.DELIVERED,
    "read": Status.DELIVERED, "undelivered": Status.UNDELIVERED, "failed": Status.FAILED,
    "canceled": Status.FAILED, "cancelled": Status.FAILED, "rejected": Status.FAILED,
    "expired": Status.UNDELIVERED,
}  # fmt: skip
SEND_ATTEMPTS = 3  # only for failures where the provider certainly did not get the message
STALE_SENDING = dt.timedelta(minutes=15)
BUSY_BACKOFF = dt.timedelta(seconds=5)  # after a 429, every worker waits this long
BUSY_GIVE_UP = dt.timedelta(hours=1)


@dataclass
class Plan:
    """What a send would be, checked and priced; also the dry-run answer."""

    to: str
    country: str
    contact: Contact | None
    text: str  # as stored (a one-time code stays a placeholder)
    preview: str  # as the recipient reads it
    kind: str
    encoding: str
    segments: int
    ucs2_chars: tuple[str, ...]
    price: Decimal
    balance: Decimal
    number_type: str
    send_after: dt.datetime | None = None

    @property
    def balance_after(self) -> Decimal:
        return self.balance - self.price

    def as_dict(self) -> dict:
        return {
            "to": self.to, "country": self.country, "kind": self.kind, "text": self.preview,
            "encoding": self.encoding, "segments": self.segments,
            "ucs2_characters": list(self.ucs2_chars), "price": str(self.price),
            "balance_after": str(self.balance_after), "number_type": self.number_type,
            "send_after": self.send_after.isoformat() if self.send_after else None,
        }  # fmt: skip


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)


# --- Checking and pricing ------------------------------------------------------------------


KEY_MAX = 100  # Message.idempotency_key, Campaign.idempotency_key


def client_key(raw: str | None) -> str | None:
    """An idempotency key a client sent (a form's hidden field) as its column can hold it.

    One longer than the column, or holding a NUL (which PostgreSQL cannot store), is kept as
    its SHA-256: a retry with the same key still finds the first, and two keys that differ
    only past the column's length are not taken for one."""
    key = (raw or "").strip()
    if not key:
        return None
    if len(key) > KEY_MAX or "\x00" in key:
        return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


def placeholder_values(contact: Contact | None) -> dict[str, str]:
    """``{first_name}``-style values from a contact: its own fields and its custom fields.

    A custom field the contact has no value for is empty, as an empty first name is and as
    campaigns render it; only a name that is no field at all is an unknown placeholder."""
    if contact is None:
        return {}
    values = {
        "first_name": contact.first_name, "last_name": contact.last_name,
        "full_name": contact.full_name, "email": contact.email, "phone": contact.phone,
    }  # fmt: skip
    for fv in FieldValue.objects.filter(contact=contact).select_related("field"):
        values.setdefault(fv.field.name.lower(), fv.display_value)
    for name in Field.objects.values_list("name", flat=True):
        values.setdefault(name.lower(), "")
    return values


def contact_for_number(e164: str) -> Contact | None:
    """The contact a typed number belongs to (the oldest, if several share it): a text to it
    is theirs, with their placeholders, consent and history."""
    return Contact.objects.filter(phone=e164).order_by("created_at").first()


def render_text(text: str, values: dict[str, str], *, allow_code: bool = False) -> str:
    missing: list[str] = []

    def replace(match: re.Match) -> str:
        name = match.group(1).lower()
        if allow_code and name == "code":
            return CODE_PLACEHOLDER
        if name in values:
            return values[name]
        missing.append(match.group(0))
        return match.group(0)

    rendered = PLACEHOLDER.sub(replace, text)
    if missing:
        known = ", ".join(f"{{{k}}}" for k in sorted(values)) or "none without a contact"
        raise SwitchboardError(
            "unknown_placeholder",
            f"Unknown placeholder {', '.join(dict.fromkeys(missing))}; available: {known}.",
            field="text",
        )
    return rendered


def _quiet_until(e164: str, now: dt.datetime) -> dt.datetime | None:
    """When quiet hours end for this number, if it is inside them now (its local time)."""
    start_s, _, end_s = settings.SMS_QUIET_HOURS.partition("-")
    if not end_s:
        return None
    start, end = dt.time.fromisoformat(start_s.strip()), dt.time.fromisoformat(end_s.strip())
    zones = describe(e164).time_zones
    tz = zoneinfo.ZoneInfo(zones[0] if zones else settings.TIME_ZONE)
    local = now.astimezone(tz)
    t = local.time()
    quiet = (start <= t or t < end) if start > end else (start <= t < end)
    if not quiet:
        return None
    end_day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(end_day, end, tzinfo=tz).astimezone(dt.UTC)


def parse_schedule(raw: object) -> dt.datetime | None:
    """``schedule_at`` as an aware UTC moment (None when not given): a datetime or an ISO 8601
    string, one without an offset read as UTC, the zone the API speaks."""
    if raw in (None, ""):
        return None
    try:
        moment = (
            raw if isinstance(raw, dt.datetime) else dt.datetime.fromisoformat(str(raw).strip())
        )
    except ValueError:
        raise SwitchboardError(
            "invalid_schedule",
            f"“{raw}” is not a date and time; use ISO 8601, e.g. 2026-11-27T12:00:00+00:00.",
            field="schedule_at",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise horizon.off_the_calendar(
            horizon.TEXT, moment=moment, now=timezone.now(), field="schedule_at"
        ) from None


def schedule_moment(raw: object, *, now: dt.datetime) -> dt.datetime | None:
    """When a single send is due: None for now, else a moment in the future; the past and
    more than ``SMS_MAX_SCHEDULE_DAYS`` ahead are refused."""
    moment = parse_schedule(raw)
    if moment is None:
        return None
    if moment <= now:
        # In the site's zone, which staff type times in (and say which zone it is).
        raise SwitchboardError(
            "schedule_in_past",
            f"{timezone.localtime(moment):%d %b %Y %H:%M %Z} has already passed; choose a "
            "later time.",
            field="schedule_at",
        )
    if moment > horizon.latest_schedule(horizon.TEXT, now):
        raise horizon.too_far_ahead(horizon.TEXT, now=now, field="schedule_at")
    return moment


def prepare_message(
    *,
    text: str,
    to: str | None = None,
    contact: Contact | None = None,
    kind: str = MessageKind.TRANSACTIONAL,
    allow_non_mobile: bool = False,
    secret: str = "",
    now: dt.datetime | None = None,
    schedule_at: object = None,
) -> Plan:
    """Check everything about a send and price it, without writing anything.

    ``schedule_at`` holds the message until then (quiet hours still apply to marketing at
    that moment, in the recipient's zone)."""
    now = now or timezone.now()
    scheduled = schedule_moment(schedule_at, now=now)
    if kind not in MessageKind.values:
        raise SwitchboardError(
            "invalid_kind", "An SMS is transactional or marketing.", field="kind"
        )
    if contact is None and not (to or "").strip():
        raise SwitchboardError("no_recipient", "Choose a contact or enter a number.", field="to")
    if contact is not None and not contact.phone:
        raise SwitchboardError("no_phone", f"{contact} has no phone number to text.", field="to")
    phone = contact.phone if contact is not None else normalise_phone(to or "").e164  # type: ignore[union-attr]
    if contact is None:
        contact = contact_for_number(phone)
    info = describe(phone)

    if not (text or "").strip():
        raise SwitchboardError("empty_text", "Write the message first.", field="text")
    # Most texts name no placeholder: then the contact's fields need not be read at all.
    values = placeholder_values(contact) if PLACEHOLDER.search(text) else {}
    stored = render_text(text, values, allow_code=bool(secret))
    preview = stored.replace(CODE_PLACEHOLDER, secret) if secret else stored
    shape = analyse(preview)
    if shape.segments > settings.SMS_MAX_SEGMENTS:
        raise SwitchboardError(
            "text_too_long",
            f"This text needs {shape.segments} segments; the limit is "
            f"{settings.SMS_MAX_SEGMENTS} ({shape.encoding}, {shape.per_segment} characters each).",
            field="text",
            segments=shape.segments,
        )
    if not info.is_mobile and not allow_non_mobile:
        raise SwitchboardError(
            "not_mobile",
            f"{info.international} is a {info.type} number, which may not receive texts. "
            "Nothing was sent.",
            field="to",
            number_type=info.type,
        )
    stop = optouts.opt_out_for(phone)
    if stop is not None:
        on = timezone.localtime(stop.created_at)  # the site's day, as staff read dates
        raise SwitchboardError(
            "suppressed",
            f"{info.international} opted out of texts on {on:%d %b %Y} "
            f"({stop.reason}). Nothing was sent.",
            field="to",
        )
    suppressed = suppression_reason(phone=phone)
    if suppressed == "erased" or (suppressed and kind == MessageKind.MARKETING):
        raise SwitchboardError(
            "suppressed",
            f"{info.international} is on the suppression list ({suppressed}). Nothing was sent.",
            field="to",
        )
    if kind == MessageKind.MARKETING:
        if contact is None:
            raise SwitchboardError(
                "no_consent",
                "Marketing texts go only to contacts who gave SMS consent.",
                field="to",
            )
        if contact.is_unsubscribed:
            raise SwitchboardError(
                "unsubscribed", f"{contact} unsubscribed permanently; no marketing.", field="to"
            )
        if contact.sms_consent != "granted":
            raise SwitchboardError(
                "no_consent",
                f"{contact} has not given SMS consent (consent: {contact.sms_consent}).",
                field="to",
            )
    price = credits.price_per_segment(info.region) * shape.segments
    due = scheduled or now
    quiet_end = _quiet_until(phone, due) if kind == MessageKind.MARKETING else None
    send_after = quiet_end or scheduled
    return Plan(
        to=phone, country=info.region, contact=contact, text=stored, preview=preview, kind=kind,
        encoding=shape.encoding, segments=shape.segments, ucs2_chars=shape.ucs2_chars,
        price=price, balance=credits.get_balance(), number_type=info.type, send_after=send_after,
    )  # fmt: skip


# --- Queueing ------------------------------------------------------------------------------


def _new_message(plan: Plan, *, actor: Actor, key: str, secret: str, campaign_id: int | None):
    now = timezone.now()
    return Message(
        idempotency_key=key, contact=plan.contact, to=plan.to, country=plan.country,
        text=plan.text, secret=secret, kind=plan.kind, encoding=plan.encoding,
        segments=plan.segments, price=plan.price, gateway=settings.SMS_GATEWAY,
        status=Status.SCHEDULED if plan.send_after else Status.PENDING,
        send_after=plan.send_after, campaign_id=campaign_id, created_at=now, updated_at=now,
        actor_kind=actor.kind, actor_user_id=actor.user_id, actor_ref=actor.ref,
        actor_label=actor.label, prompt_version_id=actor.prompt_version_id,
    )  # fmt: skip


def create_messages(
    plans: list[Plan],
    *,
    actor: Actor,
    keys: list[str] | None = None,
    campaign_id: int | None = None,
) -> list[Message]:
    """Queue many checked messages in the caller's transaction: rows, one credit reservation
    for all of them (or ``insufficient_credits`` for all), timeline, history. The caller
    enqueues ``sms.tasks.deliver_messages`` on commit."""
    keys = keys or [uuid.uuid4().hex for _ in plans]
    messages = Message.objects.bulk_create(
        [
            _new_message(plan, actor=actor, key=key, secret="", campaign_id=campaign_id)
            for plan, key in zip(plans, keys, strict=True)
        ]
    )
    credits.reserve(messages=messages, actor=actor)
    _after_create(messages, actor=actor)
    return messages


def _after_create(messages: list[Message], *, actor: Actor) -> None:
    MessageEvent.objects.bulk_create(
        [MessageEvent(message=m, status=m.status, source="queued", at=m.created_at,
                      detail=f"due {m.send_after:%d %b %Y %H:%M} UTC" if m.send_after else "")
         for m in messages]
    )  # fmt: skip
    interactions = [
        build_interaction(
            contact=m.contact, actor=actor, kind=InteractionKind.SMS_SENT,
            description=f"SMS: {m.display_text}"[:500],
            data={"message_id": m.pk, "segments": m.segments, "kind": m.kind},
        )
        for m in messages
        if m.contact is not None
    ]  # fmt: skip
    if interactions:
        type(interactions[0]).objects.bulk_create(interactions)


def _enqueue_delivery(messages: Iterable[Message]) -> None:
    from sms.tasks import deliver_messages, enqueue_at

    messages = list(messages)
    if any(m.send_after is None for m in messages):
        deliver_messages.enqueue()
    for when in sorted({m.send_after for m in messages if m.send_after}):
        enqueue_at(deliver_messages, when)


@dataclass
class SendOutcome:
    plan: Plan | None
    message: Message | None  # None on a dry run
    replayed: bool = False


def send_sms(
    *,
    actor: Actor,
    text: str,
    to: str | None = None,
    contact: Contact | None = None,
    kind: str = MessageKind.TRANSACTIONAL,
    dry_run: bool = False,
    idempotency_key: str | None = None,
    allow_non_mobile: bool = False,
    secret: str = "",
    schedule_at: object = None,
) -> SendOutcome:
    """Check, price and queue one SMS; the worker sends it. ``dry_run`` answers what it would
    be (encoding, segments, price) and writes nothing. The same ``idempotency_key`` twice
    returns the first message instead of sending again. ``schedule_at`` (a future moment)
    queues it as scheduled; the worker sends it then."""
    idempotency_key = client_key(idempotency_key)
    if idempotency_key:
        existing = Message.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return SendOutcome(None, existing, replayed=True)
    plan = prepare_message(
        text=text, to=to, contact=contact, kind=kind, allow_non_mobile=allow_non_mobile,
        secret=secret, schedule_at=schedule_at,
    )  # fmt: skip
    if dry_run:
        if plan.price > plan.balance:
            raise credits.shortfall(needed=plan.price, balance=plan.balance)
        return SendOutcome(plan, None)
    key = idempotency_key or uuid.uuid4().hex
    try:
        with transaction.atomic():
            message = _new_message(plan, actor=actor, key=key, secret=secret, campaign_id=None)
            message.save()
            credits.reserve(messages=[message], actor=actor)
            _after_create([message], actor=actor)
            audit.record(
                actor=actor, action="sms.send", obj=message,
                contact_id=plan.contact.pk if plan.contact else None,
                changes={"status": [None, message.status], "segments": [None, plan.segments]},
            )  # fmt: skip
            transaction.on_commit(lambda: _enqueue_delivery([message]))
    except IntegrityError:
        existing = Message.objects.filter(idempotency_key=key).first()
        if existing is None:
            raise
        return SendOutcome(None, existing, replayed=True)
    return SendOutcome(plan, message)


@transaction.atomic
def cancel_message(*, actor: Actor, message: Message) -> Message:
    """Stop a message that has not been handed to the provider yet; its credits come back."""
    done = Message.objects.filter(
        pk=message.pk, status__in=[Status.PENDING, Status.SCHEDULED, Status.HELD]
    ).update(status=Status.CANCELLED, secret="", updated_at=timezone.now(), final_at=timezone.now())
    message.refresh_from_db()
    if not done:
        # Say what did happen: another click may have cancelled it, or the worker failed it.
        if message.status == Status.CANCELLED:
            reason = "This message is already cancelled; its credits are back."
        elif message.status == Status.FAILED:
            reason = "This message already failed; there is nothing to stop."
        else:
            reason = "This message is already with the provider; it cannot be stopped."
        raise SwitchboardError("not_cancellable", reason)
    MessageEvent.objects.create(message=message, status=Status.CANCELLED, source="staff",
                                detail=f"cancelled by {actor.label}")  # fmt: skip
    credits.refund(messages=[message], actor=actor, note="cancelled before sending")
    audit.record(actor=actor, action="sms.cancel", obj=message, contact_id=message.contact_id)
    return message


# --- Sending (the worker side) -------------------------------------------------------------


# The claimable statuses as SQL literals: SQLite uses a partial index (sms_message_claimable)
# only when the query spells out its condition, not with bound parameters.
CLAIMABLE_SQL = "status IN ('pending', 'scheduled')"


def claim_batch(*, limit: int, message_ids: list[int] | None = None) -> list[Message]:
    """Move up to ``limit`` due messages to ``sending`` and return them, oldest first.

    One ``UPDATE … RETURNING`` of rows that are claimable as they are now, tagged with a fresh
    claim id: two workers can never claim the same message. On
    PostgreSQL the due rows are locked with SKIP LOCKED, so two workers claiming at once take
    different rows instead of queueing on the same ones; the pick is a materialised CTE (as an
    ``IN`` subquery the planner may run it again for every row). SQLite runs one writer at a
    time, so the pick and the update see the same rows: one statement cannot lose a race.
    """
    if message_ids is not None and not message_ids:
        return []
    ops = connection.ops
    table = ops.quote_name(Message._meta.db_table)
    columns = [ops.quote_name(f.column) for f in Message._meta.concrete_fields]
    now = ops.adapt_datetimefield_value(timezone.now())
    token = Message._meta.get_field("claim").get_db_prep_value(uuid.uuid4(), connection)
    only = f"AND id IN ({', '.join(['%s'] * len(message_ids))})" if message_ids else ""
    # Without statistics SQLite would rather read the whole queue through sms_message_due and
    # sort it than walk the queue index in order and stop after ``limit`` rows.
    hint = "INDEXED BY sms_message_claimable" if connection.vendor == "sqlite" else ""
    pick = f"""
        SELECT id FROM {table} {hint}
        WHERE {CLAIMABLE_SQL} AND (send_after IS NULL OR send_after <= %s) {only}
        ORDER BY id LIMIT %s
    """  # noqa: S608 - only our own table name, literals and placeholders
    pick_params = [now, *(message_ids or []), limit]
    claim_params = [Status.SENDING.value, token, now, now]
    if connection.vendor == "postgresql":
        # FOR UPDATE re-checks the pick's condition on the row's latest version before locking
        # it, so the picked rows are still claimable and ours. The update finds them by id
        # only: a status condition here lets the planner scan the whole queue (through the
        # partial index) for each picked row when its statistics lag behind a fan-out.
        sql = f"""
            WITH picked AS MATERIALIZED ({pick} FOR UPDATE SKIP LOCKED)
            UPDATE {table} AS m SET status = %s, claim = %s, claimed_at = %s, updated_at = %s
            FROM picked WHERE m.id = picked.id
            RETURNING {", ".join("m." + c for c in columns)}
        """  # noqa: S608
        params = pick_params + claim_params
    else:
        sql = f"""
            UPDATE {table} SET status = %s, claim = %s, claimed_at = %s, updated_at = %s
            WHERE id IN ({pick})
            RETURNING {", ".join(columns)}
        """  # noqa: S608
        params = claim_params + pick_params
    # A raw queryset turns the returned rows into messages with each field's converters.
    return sorted(Message.objects.raw(sql, params), key=lambda m: m.pk)


def _hand_over(gateway: Gateway, message: Message) -> SendResult | GatewayError:
    """Runs in a sending thread: no database access here."""
    text = (
        message.text.replace(CODE_PLACEHOLDER, message.secret) if message.secret else message.text
    )
    for attempt in range(SEND_ATTEMPTS):
        try:
            return gateway.send(to=message.to, text=text, reference=message.idempotency_key)
        except GatewayError as exc:
            if not exc.retry_safe or attempt == SEND_ATTEMPTS - 1:
                return exc
            time.sleep(0.2 * 2**attempt)  # backoff: 0.2 s, 0.4 s
        except Exception as exc:  # a bug in a gateway must not leave the message in "sending"
            log.exception("gateway %s crashed sending message %s", gateway.name, message.pk)
            return GatewayError("gateway_error", f"Unexpected gateway failure ({type(exc).__name__}).",
                                permanent=False)  # fmt: skip
    raise AssertionError("unreachable")


def _hand_over_at(
    gateway: Gateway, message: Message, at: float | None
) -> SendResult | GatewayError:
    """Wait for the message's rate-limit slot (a Unix time), then hand it over."""
    if at is not None and (delay := at - time.time()) > 0:
        time.sleep(delay)
    return _hand_over(gateway, message)


def _slots(batch: list[Message]) -> list[float | None]:
    """Each message's send slot under its gateway's shared rate limit (None: no limit)."""
    from sms.campaigns.ratelimit import rate_for, take_slots

    slots: list[float | None] = [None] * len(batch)
    for name in {m.gateway for m in batch}:
        if rate_for(name) is None:
            continue
        positions = [i for i, m in enumerate(batch) if m.gateway == name]
        for i, at in zip(positions, take_slots(name, len(positions)), strict=True):
            slots[i] = at
    return slots


def _lease_from_slots(batch: list[Message], slots: list[float | None]) -> None:
    """Start the lease of a message that waits for a later rate-limit slot at that slot.

    Until then it is not with the provider, however long other workers' bookings make it
    wait: counted from the claim, a wait longer than the lease would have other workers fail
    it (refunded, then sent anyway) or hand it over a second time. Only slots past half the
    lease are written: sooner ones leave the provider call time enough within it."""
    soon = time.time() + settings.SMS_SEND_LEASE / 2
    later = [(m, at) for m, at in zip(batch, slots, strict=True) if at is not None and at > soon]
    for message, at in later:
        message.claimed_at = dt.datetime.fromtimestamp(at, tz=dt.UTC)
    if later:
        Message.objects.bulk_update([m for m, _ in later], ["claimed_at"], batch_size=500)


def requeue_stale_sending(*, lease: float | None = None) -> int:
    """Messages claimed by a worker that died mid-send, on a gateway that drops a repeated
    reference: queue them again (sending twice cannot double them); others wait for
    ``fail_stale_sending``."""
    cutoff = timezone.now() - dt.timedelta(
        seconds=settings.SMS_SEND_LEASE if lease is None else lease
    )
    stale = Message.objects.filter(status=Status.SENDING, claimed_at__lt=cutoff)
    names = [n for n in set(stale.values_list("gateway", flat=True)) if _dedupes(n)]
    if not names:
        return 0
    return stale.filter(gateway__in=names).update(
        status=Status.PENDING, claim=None, claimed_at=None, updated_at=timezone.now()
    )


def _dedupes(name: str) -> bool:
    try:
        return bool(getattr(get_gateway(name), "dedupes_reference", False))
    except KeyError:
        return False


def send_due_messages(
    *,
    limit: int | None = None,
    message_ids: list[int] | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> DispatchStats:
    """Send every due message (or up to ``limit``), a batch at a time, each batch concurrently.

    Safe to run in many workers at once. Called by the ``deliver_messages`` task.
    """
    stats = DispatchStats()
    requeue_stale_sending()
    fail_stale_sending()
    batch_size = settings.SMS_DISPATCH_BATCH
    own_pool = executor is None
    pool = executor or ThreadPoolExecutor(max_workers=settings.SMS_SEND_CONCURRENCY)
    try:
        # Pipelined: while one batch is with the provider, the previous batch's outcomes are
        # written, so the database work hides behind the provider's latency.
        in_flight: tuple[list[Message], Callable[[], list]] | None = None
        while True:
            batch: list[Message] = []
            if limit is None or stats.claimed < limit:
                size = batch_size if limit is None else min(batch_size, limit - stats.claimed)
                batch = claim_batch(limit=size, message_ids=message_ids)
                stats.claimed += len(batch)
                batch = _drop_opted_out(batch, stats)
            if batch:
                outcomes = _hand_over_all(pool, batch)
            if in_flight is not None:
                done, done_outcomes = in_flight
                _record_outcomes(done, done_outcomes(), stats)
                in_flight = None
            if not batch:
                break
            in_flight = (batch, outcomes)
    finally:
        if own_pool:
            pool.shutdown()
    return stats


def _hand_over_all(pool: ThreadPoolExecutor, batch: list[Message]) -> Callable[[], list]:
    """Start handing ``batch`` to its gateways on the pool's threads; returns a function that
    waits for them and answers each message's outcome, in batch order.

    Each sending thread takes the next message from one shared queue until it is empty, so a
    slow message holds up only its thread, as with one task per message, without a future
    and its locks for every message (a measurable share of a worker's CPU at 1,000 a second).
    """
    gateways = {name: get_gateway(name) for name in {m.gateway for m in batch}}
    slots = _slots(batch)
    _lease_from_slots(batch, slots)
    queue = deque(enumerate(zip(batch, slots, strict=True)))
    outcomes: list[SendResult | GatewayError | None] = [None] * len(batch)

    def drain() -> None:
        while True:
            try:
                i, (message, at) = queue.popleft()  # atomic: each message goes once
            except IndexError:
                return
            outcomes[i] = _hand_over_at(gateways[message.gateway], message, at)

    threads = min(settings.SMS_SEND_CONCURRENCY, len(batch))
    futures = [pool.submit(drain) for _ in range(threads)]

    def wait() -> list:
        for future in futures:
            future.result()
        return outcomes

    return wait


def _drop_opted_out(batch: list[Message], stats: DispatchStats) -> list[Message]:
    """Cancel (and refund) claimed messages whose number said STOP after they were queued.

    Sends check the opt-out list when they are queued; a campaign queued hours ago must still
    not text someone who opted out since, whatever the message's kind.
    """
    opted_out = optouts.opted_out({m.to for m in batch})
    if not opted_out:
        return batch
    dropped = [m for m in batch if m.to in opted_out]
    now = timezone.now()
    reason = "The number opted out (STOP) after this message was queued; it was not sent."
    with transaction.atomic():
        Message.objects.filter(pk__in=[m.pk for m in dropped], status=Status.SENDING).update(
            status=Status.CANCELLED, error_code="opted_out", error_message=reason, secret="",
            final_at=now, updated_at=now, claim=None,
        )  # fmt: skip
        MessageEvent.objects.bulk_create(
            MessageEvent(message=m, status=Status.CANCELLED, at=now, source="worker",
                         error_code="opted_out", detail=reason)
            for m in dropped
        )  # fmt: skip
        credits.refund(
            messages=dropped, actor=Actor.system("sms worker"), note="opted out before sending"
        )
    stats.errors["opted_out"] = stats.errors.get("opted_out", 0) + len(dropped)
    return [m for m in batch if m.to not in opted_out]


def _record_outcomes(
    batch: list[Message], outcomes: list[SendResult | GatewayError], stats: DispatchStats
) -> None:
    now = timezone.now()
    system = Actor.system("sms worker")
    events: list[tuple] = []  # EVENT_COLUMNS
    failed, simulated, busy = [], [], []
    busy_since = _busy_since([m for m, o in zip(batch, outcomes, strict=True) if _is_busy(o)])
    for message, outcome in zip(batch, outcomes, strict=True):
        message.updated_at = now
        if _requeue_busy(message, outcome, now, busy_since.get(message.pk, now)):
            # The provider refused for load (429/503), so it never took the message: it goes
            # back in the queue a little later instead of failing. The secret stays for then.
            again = timezone.localtime(message.send_after)
            events.append((message.pk, Status.PENDING.value, now, "worker", "gateway_busy",
                           f"provider busy; trying again at {again:%H:%M:%S}"))  # fmt: skip
            busy.append(message)
            continue
        message.secret = ""
        if isinstance(outcome, SendResult):
            message.status, message.provider_id, message.sent_at = (
                Status.SENT,
                provider_key(outcome.provider_id),
                now,
            )
            # The id as the provider gave it, for staff looking it up there.
            events.append((message.pk, Status.SENT.value, now, "worker", "",
                           f"accepted by {message.gateway} as {outcome.provider_id}"[:300]))  # fmt: skip
            if outcome.simulated_report:
                simulated.append(
                    [
                        message.gateway,
                        outcome.provider_id,
                        outcome.simulated_report,
                        outcome.simulated_error,
                    ]
                )
            stats.sent += 1
        else:
            message.status, message.final_at = Status.FAILED, now
            message.error_code = (outcome.provider_code or outcome.code)[:40]
            message.error_message = outcome.message[:300]
            events.append((message.pk, Status.FAILED.value, now, "worker", message.error_code,
                           outcome.message[:300]))  # fmt: skip
            failed.append(message)
            stats.failed += 1
            stats.errors[outcome.code] = stats.errors.get(outcome.code, 0) + 1
    with transaction.atomic():
        if busy:
            Message.objects.bulk_update(
                busy, ["status", "updated_at", "send_after", "claim"], batch_size=500
            )
        _write_outcomes([m for m in batch if m.status in (Status.SENT, Status.FAILED)])
        insert_events(events)
        if failed:
            credits.refund(messages=failed, actor=system, note="rejected when sending")
    # Reports that arrived before we had recorded the provider id.
    sent = {m.provider_id: m for m in batch if m.status == Status.SENT}
    early = _early_reports(batch, sent) if sent else []
    for report in early:
        message = sent[report.provider_id]
        if report.gateway == message.gateway:
            DeliveryReport.objects.filter(pk=report.pk).update(message=message)
            _apply_status(message, report.status, report.error_code, source="callback")
    if busy:
        from sms.campaigns.ratelimit import push_back
        from sms.tasks import deliver_messages, enqueue_at

        for name in {m.gateway for m in busy}:
            push_back(name, BUSY_BACKOFF.total_seconds())
        when = min(m.send_after for m in busy)
        transaction.on_commit(lambda: enqueue_at(deliver_messages, when))
    if simulated:
        from sms.tasks import apply_simulated_reports, enqueue_at

        # The sandbox's "provider" reports delivery a moment later, through the same path.
        when = timezone.now() + dt.timedelta(seconds=1)
        transaction.on_commit(lambda: enqueue_at(apply_simulated_reports, when, simulated))


def _early_reports(batch: list[Message], sent: dict[str, Message]) -> list[DeliveryReport]:
    """Reports kept for provider ids this batch has just recorded, oldest first."""
    if connection.vendor != "postgresql":
        reports = DeliveryReport.objects.filter(message__isnull=True, provider_id__in=list(sent))
        return list(reports.order_by("id"))
    # One array parameter rather than an IN list of a whole batch of ids, per gateway so the
    # (gateway, provider_id) index answers it.
    table = connection.ops.quote_name(DeliveryReport._meta.db_table)
    found: list[DeliveryReport] = []
    for name in {m.gateway for m in sent.values()}:
        ids = [pid for pid, m in sent.items() if m.gateway == name]
        found += DeliveryReport.objects.raw(
            f"SELECT * FROM {table} WHERE message_id IS NULL AND gateway = %s"  # noqa: S608
            " AND provider_id = ANY(%s)",
            [name, ids],
        )
    return sorted(found, key=lambda r: r.pk)


OUTCOME_COLUMNS = ["status", "provider_id", "sent_at", "final_at", "error_code", "error_message",
                   "secret", "updated_at"]  # fmt: skip


def _write_outcomes(messages: list[Message]) -> None:
    """Record what the provider answered for these messages, one statement for all of them.

    The rows are ours (claimed), so no condition is needed. PostgreSQL takes every row's
    values as one array per column (``UPDATE … FROM unnest(…)``): one statement to parse and
    plan instead of one per message. SQLite runs in this process and reuses one prepared
    UPDATE per row (executemany), which costs less than building a statement for all.
    """
    if not messages:
        return
    ops = connection.ops
    table = ops.quote_name(Message._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            fields = [Message._meta.get_field(c) for c in OUTCOME_COLUMNS]
            types = ["bigint", *(f.db_type(connection) for f in fields)]
            names = ", ".join(ops.quote_name(c) for c in OUTCOME_COLUMNS)
            arrays = ", ".join(f"%s::{t.split('(')[0]}[]" for t in types)
            assignments = ", ".join(f"{ops.quote_name(c)} = v.{ops.quote_name(c)}"
                                    for c in OUTCOME_COLUMNS)  # fmt: skip
            columns = [[m.pk for m in messages]]
            columns += [[getattr(m, c) for m in messages] for c in OUTCOME_COLUMNS]
            cursor.execute(
                f"UPDATE {table} AS m SET {assignments} FROM unnest({arrays}) AS v(id, {names})"  # noqa: S608
                " WHERE m.id = v.id",
                columns,
            )
            return
        assignments = ", ".join(f"{ops.quote_name(c)} = %s" for c in OUTCOME_COLUMNS)

        def value(message: Message, column: str):
            raw = getattr(message, column)
            return ops.adapt_datetimefield_value(raw) if isinstance(raw, dt.datetime) else raw

        rows = [[value(m, c) for c in OUTCOME_COLUMNS] + [m.pk] for m in messages]
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", rows)  # noqa: S608


EVENT_COLUMNS = ("message_id", "status", "at", "source", "error_code", "detail")


def insert_events(rows: list[tuple]) -> None:
    """Timeline steps as tuples in ``EVENT_COLUMNS`` order, in the caller's transaction."""
    at = EVENT_COLUMNS.index("at")
    adapt = connection.ops.adapt_datetimefield_value
    insert_rows(
        MessageEvent,
        EVENT_COLUMNS,
        rows,
        sqlite_row=lambda row: (*row[:at], adapt(row[at]), *row[at + 1 :]),
    )


def _is_busy(outcome: SendResult | GatewayError) -> bool:
    return isinstance(outcome, GatewayError) and outcome.code == "gateway_busy"


def _busy_since(messages: list[Message]) -> dict[int, dt.datetime]:
    """When the provider first turned each of these messages away as busy, if it did before.

    Counted from then, not from when the message was queued: a text scheduled yesterday, or
    held overnight by quiet hours, has not been waiting on the provider since."""
    if not messages:
        return {}
    rows = (
        MessageEvent.objects.filter(message_id__in=[m.pk for m in messages],
                                    error_code="gateway_busy")
        .values("message_id")
        .annotate(first=Min("at"))
        .order_by()
    )  # fmt: skip
    return {row["message_id"]: row["first"] for row in rows}


def _requeue_busy(
    message: Message, outcome: SendResult | GatewayError, now: dt.datetime, since: dt.datetime
) -> bool:
    if not _is_busy(outcome):
        return False
    if now - since > BUSY_GIVE_UP:
        return False  # busy for an hour: fail it (refunded) rather than retry for ever
    message.status, message.claim = Status.PENDING, None
    message.send_after = now + BUSY_BACKOFF
    return True


def fail_stale_sending(*, older_than: dt.timedelta = STALE_SENDING) -> int:
    """Messages a worker claimed and never finished (it was killed): fail them with a reason.

    We cannot know whether the provider got them, so they are not sent again.
    """
    cutoff = timezone.now() - older_than
    stale = list(Message.objects.filter(status=Status.SENDING, claimed_at__lt=cutoff)[:500])
    done = 0
    for message in stale:
        with transaction.atomic():
            if _advance(
                message,
                Status.FAILED,
                error_code="send_interrupted",
                source="worker",
                detail="The worker stopped while sending; not retried in case it went out.",
            ):
                done += 1  # fmt: skip
    return done


# --- Provider reports ----------------------------------------------------------------------


def _advance(
    message: Message, status: Status, *, error_code: str = "", source: str, detail: str = ""
) -> bool:
    """Move ``message`` forward to ``status`` if it is not already there or beyond.

    A conditional UPDATE, so a duplicate or late report changes nothing. Runs in the caller's
    transaction; a message that fails for good gets its credits back.
    """
    earlier = [s for s, rank in RANK.items() if rank < RANK[status] and s not in FINAL_STATUSES]
    now = timezone.now()
    changes: dict = {"status": status, "updated_at": now, "secret": ""}
    if status in FINAL_STATUSES:
        changes["final_at"] = now
    if error_code:
        changes["error_code"] = error_code[:40]
    if detail and status in (Status.FAILED, Status.UNDELIVERED):
        changes["error_message"] = detail[:300]
    if not Message.objects.filter(pk=message.pk, status__in=earlier).update(**changes):
        return False
    for key, value in changes.items():
        setattr(message, key, value)
    MessageEvent.objects.create(
        message=message, status=status, at=now, source=source, error_code=error_code[:40],
        detail=detail[:300],
    )  # fmt: skip
    if status == Status.FAILED:
        credits.refund(messages=[message], actor=Actor.system("sms worker"), note="failed")
    return True


def _apply_status(message: Message, provider_status: str, error_code: str, *, source: str) -> bool:
    status = PROVIDER_STATUSES.get(provider_status.strip().lower())
    with transaction.atomic():
        if status is None:
            MessageEvent.objects.create(
                message=message, status=message.status, source=source, error_code=error_code[:40],
                detail=f"unknown provider status “{provider_status[:40]}” ignored",
            )  # fmt: skip
            return False
        detail = f"provider error {error_code}" if error_code else ""
        return _advance(message, status, error_code=error_code, source=source, detail=detail)


def record_status_report(
    *, gateway: str, report: StatusReport, source: str = "callback"
) -> Message | None:
    """Apply a provider's delivery report. Duplicates and reports older than the message's
    state change nothing; a report for an id we do not know yet is kept and applied when the
    worker records that id."""
    if not report.provider_id or not report.status:
        raise SwitchboardError("bad_callback", "A status report needs a message id and a status.")
    key = provider_key(report.provider_id)
    known = Message.objects.filter(gateway=gateway, provider_id=key)
    message = known.first()
    row = DeliveryReport.objects.create(
        gateway=gateway, provider_id=key, status=report.status[:32],
        error_code=report.error_code[:40], message=message,
    )  # fmt: skip
    if message is None and (message := known.first()) is not None:
        # The worker recorded this id between our look-up and our insert, and so looked for
        # early reports before this one existed: look again now that it is stored. Whichever
        # of us sees the other applies it; both may, and a report moves a message only once.
        DeliveryReport.objects.filter(pk=row.pk).update(message=message)
    if message is not None:
        _apply_status(message, report.status, report.error_code, source=source)
    return message
