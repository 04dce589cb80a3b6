"""Agents: who they are, what they may do, what they asked for and what came of it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Mode(models.TextChoices):
    AUTONOMOUS = "autonomous", "Autonomous"
    MONITORED = "monitored", "Monitored"
    GATED = "gated", "Gated"


SCOPES = {
    "contacts:read": "Read contacts, tags, lists, fields and segments",
    "contacts:write": "Create and change contacts, tags, lists, fields and segments",
    "contacts:erase": "Erase a contact and everything about them",
    "imports:write": "Start imports and read their progress",
    "sms:send": "Send SMS, verify and look up phone numbers",
    "campaigns:send": "Start campaigns",
}


class Agent(models.Model):
    name = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=500, blank=True, default="")
    scopes = models.JSONField(default=list, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.GATED)
    # None means no limit.
    monthly_request_cap = models.PositiveIntegerField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(default=120)
    monthly_sms_budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    client_id = models.CharField(max_length=40, unique=True)
    # sha256 of a 256-bit random secret: a slow password hash buys nothing against brute force
    # at that entropy and would cost every token exchange tens of milliseconds.
    secret_hash = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class AccessToken(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token for {self.agent_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class AgentPromptVersion(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="prompt_versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    note = models.CharField(max_length=300, blank=True, default="")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    is_active = models.BooleanField(default=False)

    class Meta:
        ordering = ["agent", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "number"], name="prompt_version_number"),
            models.UniqueConstraint(
                fields=["agent"], condition=Q(is_active=True), name="prompt_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} prompt v{self.number}"


class UsageCounter(models.Model):
    """Requests an agent made in one window ("m:2026-11-23T16:45" or "M:2026-11").

    Kept in the database so every web process shares one count; incremented with a
    conditional UPDATE so the limit holds under concurrency.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    window = models.CharField(max_length=20)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "window"], name="usage_counter_window")
        ]


class ActionOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    DRY_RUN = "dry_run", "Dry run"


class AgentAction(models.Model):
    """One write an agent asked for through the pipeline: the activity feed and the
    idempotency record in one row."""

    # No index of its own: agentaction_agent_at (agent, -created_at) serves every look-up by
    # agent, and one index fewer is one write fewer for each action recorded.
    agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, related_name="actions", db_index=False
    )
    action = models.CharField(max_length=40)
    payload = models.JSONField(default=dict, blank=True)
    # The oversight mode in force when the action was asked for.
    mode = models.CharField(max_length=10, choices=Mode.choices)
    outcome = models.CharField(
        max_length=20, choices=ActionOutcome.choices, default=ActionOutcome.RUNNING
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(default=dict, blank=True)
    # SMS credits this action spent (counts against the agent's monthly budget).
    credits = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    prompt_version = models.ForeignKey(
        AgentPromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True, default="")
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    body_hash = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["agent", "-created_at"], name="agentaction_agent_at")]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="agentaction_idempotency",
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.action} {self.outcome}"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    EXECUTED = "executed", "Executed"
    FAILED = "failed", "Failed"
    # Taken back before staff decided, because its person was erased or its agent switched
    # off: it never runs, like a rejection, but it is no verdict on what the agent asked.
    WITHDRAWN = "withdrawn", "Withdrawn"


class ApprovalRequestQuerySet(models.QuerySet["ApprovalRequest"]):
    def waiting(self) -> ApprovalRequestQuerySet:
        """Still pending and not yet past their time: one that expired stays pending until
        ``expire_stale`` sweeps it, but nobody can approve it any more (and counting it would
        need a write on every page view to correct)."""
        return self.filter(status=ApprovalStatus.PENDING, expires_at__gt=timezone.now())


class ApprovalRequest(models.Model):
    """A gated agent's send, campaign or erasure, waiting for staff to decide."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="approval_requests")
    agent_action = models.OneToOneField(
        AgentAction, null=True, blank=True, on_delete=models.SET_NULL, related_name="approval"
    )
    action = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    # What the agent first asked for, kept when staff edit the text before approving.
    original_payload = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=500, blank=True, default="")
    prompt_version = models.ForeignKey(
        AgentPromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True, default="")
    result = models.JSONField(default=dict, blank=True)

    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="approval_status_at"),
            # The queue's "Recently decided", read on every poll of every open queue page.
            models.Index(
                fields=["-decided_at", "-id"],
                name="approval_decided_at",
                condition=Q(decided_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"approval #{self.pk} {self.action} ({self.status})"


class ActionFlag(models.Model):
    """A staff member's "look at this again" on one agent action, with why."""

    agent_action = models.ForeignKey(AgentAction, on_delete=models.CASCADE, related_name="flags")
    comment = models.CharField(max_length=500)
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"flag on action {self.agent_action_id}"
