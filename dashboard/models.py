"""Cross-cutting records: the audit trail every service writes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.actors import ActorKind


class AuditEntry(models.Model):
    """One change made through a service: who, what, to which object, before/after values.

    ``contact_id`` is a plain column (not a foreign key) so the trail survives a deletion and
    erasure can find and scrub every entry about one person.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in ActorKind])
    # Indexed by audit_actor_user (only the entries that have one).
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    actor_ref = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150)
    prompt_version_id = models.BigIntegerField(null=True, blank=True)
    # The agent action this change was part of (undo replays exactly these entries).
    agent_action_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    contact_id = models.UUIDField(null=True, blank=True)
    # {"field": [before, after], ...}
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["contact_id", "-at"], name="audit_contact_at"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["actor_kind", "actor_ref", "-at"], name="audit_actor_at"),
            # Most entries have no staff user (agents, imports, the system) and no agent
            # action: partial, so those entries cost no insert in these two indexes.
            models.Index(
                fields=["actor_user"],
                name="audit_actor_user",
                condition=models.Q(actor_user__isnull=False),
            ),
            models.Index(
                fields=["agent_action_id"],
                name="audit_agent_action",
                condition=models.Q(agent_action_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type}:{self.object_id}"


class WorkerHeartbeat(models.Model):
    """A task worker saying it is alive; /healthz and the queue page read it.

    ``manage.py worker`` (db_worker plus this heartbeat) updates its row every few seconds from
    a background thread, so a worker busy with a long task still counts as alive.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"
