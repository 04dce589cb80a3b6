"""What agents may read, shared by the JSON API and the MCP tools so both answer alike.

Each function raises ``SwitchboardError`` (``unknown_*``: 404) and returns plain JSON data.
Scope and limits are checked by the caller (``pipeline.admit``).
"""

from __future__ import annotations

from typing import Any

from contacts.imports.models import ImportJob
from contacts.models import Segment
from dashboard.agents.models import Agent
from dashboard.agents.pipeline import credits_spent_this_month
from dashboard.api.serialise import campaign_data, import_data, message_data, segment_data
from dashboard.errors import SwitchboardError
from sms.campaigns.models import Campaign
from sms.models import Message
from sms.services.credits import get_balance
from sms.services.lookup import lookup_number


def segments() -> list[dict[str, Any]]:
    return [segment_data(s) for s in Segment.objects.all()]


def message_status(agent: Agent, message_id: int) -> dict[str, Any]:
    """Only messages this agent sent (directly or through an approved request)."""
    message = Message.objects.filter(
        pk=message_id, actor_kind="agent", actor_ref=str(agent.pk)
    ).first()
    if message is None:
        raise SwitchboardError("unknown_message", f"There is no message {message_id} of yours.")
    return message_data(message)


def campaign_status(agent: Agent, campaign_id: int) -> dict[str, Any]:
    """Only campaigns this agent started (directly or through an approved request)."""
    campaign = Campaign.objects.filter(
        pk=campaign_id, actor_kind="agent", actor_ref=str(agent.pk)
    ).first()
    if campaign is None:
        raise SwitchboardError("unknown_campaign", f"There is no campaign {campaign_id} of yours.")
    return campaign_data(campaign)


def credit_status(agent: Agent) -> dict[str, Any]:
    budget = agent.monthly_sms_budget
    return {
        "balance": str(get_balance()),
        "agent_budget": str(budget) if budget is not None else None,
        "agent_spent_this_month": str(credits_spent_this_month(agent)),
    }


def import_status(agent: Agent, import_id: int) -> dict[str, Any]:
    job = ImportJob.objects.filter(
        pk=import_id, actor_kind="agent", actor_ref=str(agent.pk)
    ).first()
    if job is None:
        raise SwitchboardError("unknown_import", f"There is no import {import_id} of yours.")
    # What staff see on the job page and in its error report: which rows, and why.
    issues = job.issues.values("row", "column", "outcome", "code", "reason")[:ISSUES_SHOWN]
    return {**import_data(job), "issues": list(issues), "issues_total": job.issues.count()}


ISSUES_SHOWN = 100


def lookup(phone: str) -> dict[str, Any]:
    info = lookup_number(phone)
    if info is None:
        raise SwitchboardError("invalid_phone", "Give a phone number to look up.", field="phone")
    return {**info.__dict__, "time_zones": list(info.time_zones)}
