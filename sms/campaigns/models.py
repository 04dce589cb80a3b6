"""Bulk SMS campaigns: what to send to whom and when, the frozen recipient set, the batches
that turn it into messages, and the shared send-rate bucket. Writes go through
``sms.campaigns.services``."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from sms.models import ActorFields, MessageKind


class AudienceKind(models.TextChoices):
    LIST = "list", "List"
    TAG = "tag", "Tag"
    SEGMENT = "segment", "Segment"


class ScheduleMode(models.TextChoices):
    NOW = "now", "Now"
    AT = "at", "At a date and time"
    LOCAL = "local", "At a time in each recipient's time zone"


class CampaignStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


EDITABLE = {CampaignStatus.SCHEDULED}
ACTIVE = {CampaignStatus.RUNNING, CampaignStatus.PAUSED}


class Campaign(ActorFields):
    name = models.CharField(max_length=120)
    text = models.TextField()
    kind = models.CharField(
        max_length=16, choices=MessageKind.choices, default=MessageKind.MARKETING
    )
    audience_kind = models.CharField(max_length=8, choices=AudienceKind.choices)
    audience_id = models.BigIntegerField()
    audience_label = models.CharField(max_length=200)  # kept if the list/tag/segment goes
    schedule_mode = models.CharField(max_length=5, choices=ScheduleMode.choices)
    time_zone = models.CharField(max_length=64, default="UTC")
    # AT: the moment (UTC). LOCAL: the wall-clock date and time in each recipient's zone.
    send_at = models.DateTimeField(null=True, blank=True)
    local_at = models.DateTimeField(null=True, blank=True)  # naive wall clock, stored as UTC
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    # When the start task should snapshot the audience (earliest moment anyone is due).
    start_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.SCHEDULED
    )
    # A second click on "Send" carries the same key and gets the same campaign.
    idempotency_key = models.CharField(max_length=100, unique=True, null=True, blank=True)
    resend_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resends"
    )
    recipients = models.PositiveIntegerField(default=0)
    excluded = models.JSONField(default=dict, blank=True)  # reason -> count, at start
    cost = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    # Credits reserved at start that are not yet charged to a message.
    reserved = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    batches_total = models.PositiveIntegerField(default=0)
    batches_done = models.PositiveIntegerField(default=0)
    # The next heartbeat of the campaign's task chain (see services.run_campaign).
    tick_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    created_all_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "start_at"], name="campaign_due")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE


class Recipient(models.Model):
    """The audience frozen at start: one row per phone, with when it is due."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipient_rows")
    contact = models.ForeignKey(
        "contacts.Contact", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    phone = models.CharField(max_length=16)
    country = models.CharField(max_length=2, blank=True, default="")
    send_after = models.DateTimeField(null=True, blank=True)
    batch = models.PositiveIntegerField()
    # Frozen with the set, so the messages cost exactly what was reserved. ``text`` is empty
    # when it is the campaign's text as is (no placeholders).
    text = models.TextField(blank=True, default="")
    encoding = models.CharField(max_length=5)
    segments = models.PositiveSmallIntegerField()
    price = models.DecimalField(max_digits=12, decimal_places=4)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "phone"], name="campaign_recipient_once")
        ]
        indexes = [models.Index(fields=["campaign", "batch"], name="campaign_recipient_batch")]


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CLAIMED = "claimed", "Claimed"
    DONE = "done", "Done"


class Batch(models.Model):
    """A slice of recipients turned into messages in one transaction. Claimed with a
    conditional UPDATE; a claim older than the lease is taken over (its worker died)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=8, choices=BatchStatus.choices, default=BatchStatus.PENDING
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="campaign_batch_once")
        ]


class RateBucket(models.Model):
    """Per-gateway send slots shared by every worker: ``next_slot`` is the earliest moment
    the next message may go. Workers take slots with one locked read-and-advance."""

    gateway = models.CharField(max_length=16, unique=True)
    # Unix seconds: plain arithmetic in one UPDATE on every database.
    next_slot = models.FloatField(default=0.0)
