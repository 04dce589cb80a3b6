"""Where a campaign stands: messages by status, percentage done and throughput.

Read by the campaign page (polled) and the agent API's GET /campaigns/{id}.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count
from django.utils import timezone

from sms.campaigns.models import ACTIVE, Campaign, CampaignStatus
from sms.models import Message, Status

SENT_OR_LATER = [Status.SENT, Status.DELIVERED, Status.UNDELIVERED, Status.FAILED]


def campaign_progress(campaign: Campaign) -> dict:
    by_status = dict(
        Message.objects.filter(campaign_id=campaign.pk)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    created = sum(by_status.values())
    done = sum(by_status.get(s, 0) for s in [*SENT_OR_LATER, Status.CANCELLED])
    minute_ago = timezone.now() - dt.timedelta(seconds=60)
    last_minute = Message.objects.filter(campaign_id=campaign.pk, sent_at__gte=minute_ago).count()
    return {
        "by_status": by_status, "created": created, "done": done,
        "percent": round(100 * done / campaign.recipients) if campaign.recipients else 0,
        "sent": sum(by_status.get(s, 0) for s in [Status.SENT, Status.DELIVERED, Status.UNDELIVERED]),
        "delivered": by_status.get(Status.DELIVERED, 0),
        "failed": by_status.get(Status.FAILED, 0) + by_status.get(Status.UNDELIVERED, 0),
        "held": by_status.get(Status.HELD, 0), "waiting": by_status.get(Status.SCHEDULED, 0)
        + by_status.get(Status.PENDING, 0),
        # Stopped before the provider had them: the number said STOP since, or staff cancelled.
        "cancelled": by_status.get(Status.CANCELLED, 0),
        "throughput": round(last_minute / 60, 1), "live": campaign.status in ACTIVE
        or campaign.status == CampaignStatus.SCHEDULED,
    }  # fmt: skip
