from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class EmbedLink(models.Model):
    """A read-only, expiring, revocable link that shows one report inside another page.

    The URL carries a signed token naming this row; the row says what to show (a rolling
    window, so the embed stays current) and whether the link still works.
    """

    report = models.CharField(max_length=20)
    days = models.PositiveSmallIntegerField(default=30)
    grouping = models.CharField(max_length=5, default="day")
    label = models.CharField(
        max_length=100, help_text="Where it is used, e.g. “Ops wiki: weekly SMS”."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.report} embed: {self.label}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
