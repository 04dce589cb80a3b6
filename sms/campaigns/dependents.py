"""Scheduled campaigns hold their list, tag or segment by id and read it when they start.

Registered with ``contacts.services.dependents`` from ``CampaignsConfig.ready``: the delete
pages of a list, tag or segment name the scheduled campaigns that would fail to start
without it, and merging a tag into another moves those campaigns to the other tag (their
segments follow the same way). A started campaign has frozen its audience and is not
affected.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from contacts.services.dependents import Dependent
from dashboard import audit
from dashboard.actors import Actor
from sms.campaigns.models import AudienceKind, Campaign, CampaignStatus


def _waiting(kind: str, pk: int):
    return Campaign.objects.filter(
        status=CampaignStatus.SCHEDULED, audience_kind=kind, audience_id=pk
    ).order_by("start_at", "pk")


def scheduled_campaigns(kind: str, pk: int) -> list[Dependent]:
    return [
        Dependent(
            f"campaign “{c.name}” ({timezone.localtime(c.start_at):%d %b %Y %H:%M})",
            reverse("campaigns:detail", args=[c.pk]),
        )
        for c in _waiting(kind, pk).only("name", "start_at")
    ]


def follow_tag_merge(*, actor: Actor, source, target) -> int:
    """Point the scheduled campaigns sent to ``source`` at ``target``; returns how many."""
    moved = 0
    with transaction.atomic():
        label = f"tag “{target.name}”"[:200]
        for campaign in _waiting(AudienceKind.TAG, source.pk).select_for_update():
            before = campaign.audience_label
            campaign.audience_id, campaign.audience_label = target.pk, label
            campaign.updated_at = timezone.now()
            campaign.save(update_fields=["audience_id", "audience_label", "updated_at"])
            audit.record(
                actor=actor, action="campaign.update", obj=campaign,
                changes={"audience": [before, label]},
            )  # fmt: skip
            moved += 1
    return moved
