"""Background work for campaigns: one heartbeat task that takes the campaign id."""

from __future__ import annotations

from django_tasks import task

from sms.campaigns.services import campaigns


@task()
def run_campaign_task(campaign_id: int) -> str:
    return campaigns.run_campaign(campaign_id=campaign_id)
