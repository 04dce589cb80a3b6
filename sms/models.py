"""SMS: outgoing messages and their status timeline, credits, prices, opt-outs, inbound texts
and OTP challenges. Writes go through ``sms.services``."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dashboard.actors import ActorKind

ACTOR_KINDS = [(k.value, k.value) for k in ActorKind]
# The provider_id columns: as long as the ids of the providers we know (Twilio's are 34).
PROVIDER_ID_MAX = 64
LONG_ID_PREFIX = "sha256:"


def provider_key(provider_id: str) -> str:
    """A provider's message id as the provider_id columns hold it and are searched by: as is
    when it fits, else a digest of all of it. A longer id broke the write on PostgreSQL (the
    message sent, its id lost); cut to fit, two ids alike for 64 characters would be one."""
    if len(provider_id) <= PROVIDER_ID_MAX:
        return provider_id
    digest = hashlib.sha256(provider_id.encode()).hexdigest()
    return LONG_ID_PREFIX + digest[: PROVIDER_ID_MAX - len(LONG_ID_PREFIX)]


class ActorFields(models.Model):
    """Who did it, copied from ``dashboard.actors.Actor`` so rows outlive users and agents."""

    actor_kind = models.CharField(max_length=10, choices=ACTOR_KINDS)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_ref = models.CharField(max_length=64, blank=True, default="")
    actor_label = models.CharField(max_length=150)

    class Meta:
        abstract = True


class MessageKind(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional"
    MARKETING = "marketing", "Marketing"


class Status(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"  # marketing held until quiet hours end
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    HELD = "held", "Held"  # waiting for a decision (approval), not sent
    CANCELLED = "cancelled", "Cancelled"


FINAL_STATUSES = {Status.DELIVERED, Status.UNDELIVERED, Status.FAILED, Status.CANCELLED}


class Message(ActorFields):
    """One outgoing SMS. The idempotency key makes "send this" safe to ask twice."""

    # Unique; on PostgreSQL without the ``varchar_pattern_ops`` twin Django adds for LIKE
    # (nothing looks keys up by prefix; see migration 0003).
    idempotency_key = models.CharField(max_length=100, unique=True)
    # Indexed by sms_message_contact (contact first), which serves every look-up by contact.
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="sms",
        db_index=False,
    )  # fmt: skip
    to = models.CharField(max_length=16)  # E.164
    country = models.CharField(max_length=2, blank=True, default="")
    text = models.TextField()
    # One-time codes travel here until the gateway has them, then it is blanked: the code is
    # never kept or shown (the text holds a "{code}" placeholder).
    secret = models.CharField(max_length=16, blank=True, default="")
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    encoding = models.CharField(max_length=5)  # GSM-7 / UCS-2
    segments = models.PositiveSmallIntegerField()
    price = models.DecimalField(max_digits=12, decimal_places=4)  # credits reserved/charged
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    send_after = models.DateTimeField(null=True, blank=True)
    gateway = models.CharField(max_length=16)
    provider_id = models.CharField(max_length=PROVIDER_ID_MAX, blank=True, default="")
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_message = models.CharField(max_length=300, blank=True, default="")
    # The batch that claimed it for sending: lets one UPDATE claim many rows safely.
    claim = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    prompt_version_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    final_at = models.DateTimeField(null=True, blank=True)
    # Indexed by sms_message_actor_user (only the messages a staff user sent).
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False,
    )  # fmt: skip

    class Meta:
        ordering = ["-created_at", "-id"]
        # Every message row is written three times (queued, sending, sent) and each of those
        # writes touches every index, so each one here must earn its keep.
        indexes = [
            models.Index(fields=["-created_at"], name="sms_message_created"),
            models.Index(fields=["status", "send_after"], name="sms_message_due"),
            # The send queue in claim order: only unsent rows, so a claim never walks the
            # history of sent messages. The claim spells the statuses out as literals, which
            # SQLite needs to use a partial index.
            models.Index(
                fields=["id"],
                name="sms_message_claimable",
                condition=Q(status__in=[Status.PENDING, Status.SCHEDULED]),
            ),
            models.Index(fields=["gateway", "provider_id"], name="sms_message_provider"),
            models.Index(fields=["contact", "-created_at"], name="sms_message_contact"),
            models.Index(fields=["actor_kind", "-created_at"], name="sms_message_actor"),
            # A campaign's messages by state: the heartbeat's "any still to send?" is one probe
            # of it, however many the campaign has sent already.
            models.Index(
                fields=["campaign_id", "status", "send_after"], name="sms_message_campaign_status"
            ),
            # Campaigns, agents and the system leave it empty: they cost no insert here.
            models.Index(
                fields=["actor_user"],
                name="sms_message_actor_user",
                condition=Q(actor_user__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"SMS #{self.pk}"  # no number: this lands in audit entries

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def display_text(self) -> str:
        return self.text.replace("{code}", "••••••")


class MessageEvent(models.Model):
    """One step of a message's status timeline, with the provider's error code if any."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=12, choices=Status.choices)
    at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=20)  # service / worker / callback / sandbox / staff
    error_code = models.CharField(max_length=40, blank=True, default="")
    detail = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["at", "id"]


class DeliveryReport(models.Model):
    """Every status callback as received. Kept even when no message matches yet, because a
    provider may report before the worker has recorded its id; the worker applies it then."""

    gateway = models.CharField(max_length=16)
    provider_id = models.CharField(max_length=PROVIDER_ID_MAX)
    status = models.CharField(max_length=32)
    error_code = models.CharField(max_length=40, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="reports"
    )

    class Meta:
        indexes = [models.Index(fields=["gateway", "provider_id"], name="sms_report_provider")]


class Price(models.Model):
    """Credits per segment to one destination country; country "*" is the fallback."""

    country = models.CharField(max_length=2, unique=True)
    per_segment = models.DecimalField(max_digits=8, decimal_places=4)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["country"]
        constraints = [
            models.CheckConstraint(condition=Q(per_segment__gt=0), name="sms_price_positive")
        ]

    def __str__(self) -> str:
        return f"{self.country}: {self.per_segment}"


class CreditAccount(models.Model):
    """The one credit balance (pk=1). Reservations decrement it with a conditional UPDATE, so it
    cannot go below zero however many workers send at once; the constraint is the backstop."""

    balance = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="sms_balance_not_negative")
        ]


class EntryKind(models.TextChoices):
    TOPUP = "topup", "Top-up"
    CHARGE = "charge", "Charge"
    REFUND = "refund", "Refund"


class CreditEntry(ActorFields):
    """The credit ledger: its amounts always sum to the account balance."""

    kind = models.CharField(max_length=8, choices=EntryKind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=4)  # signed
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="credit_entries"
    )
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    # Set on top-ups from the Credits page: a second click on "Add credits" adds nothing.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One refund per message at most: a failure reported twice refunds once.
            models.UniqueConstraint(
                fields=["message"], condition=Q(kind="refund"), name="sms_one_refund_per_message"
            ),
            # Partial: only keyed entries are indexed, not the ledger's row per message.
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="sms_creditentry_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        # The audit trail and the activity feed show this ("Top-up +100 credits").
        sign = "+" if self.amount >= 0 else "−"
        return f"{self.get_kind_display()} {sign}{abs(self.amount).normalize():f} credits"


class OptOut(ActorFields):
    """A number that must not be texted (STOP). Removing it (START, staff) deletes the row and
    leaves an audit entry with the reason."""

    phone = models.CharField(max_length=16, unique=True)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"opt-out #{self.pk}"


class InboundMessage(models.Model):
    gateway = models.CharField(max_length=16)
    provider_id = models.CharField(max_length=PROVIDER_ID_MAX, blank=True, default="")
    sender = models.CharField(max_length=16)  # E.164 or the raw value if not a number
    text = models.TextField(blank=True, default="")
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=10, blank=True, default="")  # opt_out / opt_in / ""
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "provider_id"],
                condition=~Q(provider_id=""),
                name="sms_inbound_once",
            )
        ]


class OtpChallenge(models.Model):
    phone = models.CharField(max_length=16)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        indexes = [models.Index(fields=["phone", "-created_at"], name="sms_otp_phone")]
