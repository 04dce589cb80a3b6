"""What agents may read, shared by the JSON API and the MCP tools so both answer alike.

Each function raises ``SwitchboardError`` (``unknown_*``: 404) and returns plain JSON data.
Scope and limits are checked by the caller (``pipeline.admit``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from contacts.imports.models import ImportJob
from contacts.models import Contact, Segment
from contacts.services.lists import get_list
from contacts.services.normalise import email_key
from contacts.services.search import search_contacts
from contacts.services.segments import get_segment, segment_members
from contacts.services.tags import find_tag
from dashboard.agents.models import Agent
from dashboard.agents.pipeline import credits_spent_this_month
from dashboard.api.serialise import campaign_data, import_data, message_data, segment_data
from dashboard.errors import SwitchboardError
from sms.campaigns.models import Campaign
from sms.models import Message
from sms.services.credits import get_balance
from sms.services.lookup import lookup_number


def contact_search(
    *,
    q: str = "",
    email: str | None = None,
    tag: str | None = None,
    list_id: int | None = None,
    segment_id: int | None = None,
) -> QuerySet[Contact]:
    """The contacts a search's filters select. An unknown list or segment id is an error
    (``unknown_list`` / ``unknown_segment``), not an empty result an agent would take for "no
    members"; an unknown tag name selects nobody, as no contact carries it."""
    list_ = get_list(list_id) if list_id else None
    segment = get_segment(segment_id) if segment_id else None
    found = find_tag(tag) if tag else None
    contacts = search_contacts(q=q, tag_id=found and found.pk, list_id=list_ and list_.pk)
    if tag and found is None:
        contacts = contacts.none()
    if email:
        contacts = contacts.filter(email=email_key(email))
    if segment:
        contacts = contacts.filter(pk__in=segment_members(segment).values("pk"))
    return contacts


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
