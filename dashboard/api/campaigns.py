"""Campaigns for agents: start one for a list, tag or segment (gated agents wait), follow it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Router

from dashboard.agents import reads
from dashboard.api.contacts import IdempotencyKey, write
from dashboard.api.core import ERRORS, agent_of
from dashboard.api.schemas import CampaignIn, CampaignOut, CampaignStatusOut, Id

router = Router(tags=["campaigns"])


@router.post(
    "/campaigns",
    response={200: CampaignOut, 201: CampaignOut, 202: CampaignOut, **ERRORS},
    summary="Start an SMS campaign",
)
def start(
    request: HttpRequest, body: CampaignIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    """201 scheduled (``now`` starts within seconds); 202 `pending_approval` with an
    `approval_id` for gated agents; with `dry_run` 200 and the recipient count, each exclusion,
    the cost by country and sample texts (empty unless the agent has `contacts:read`). 404 for an audience id that does not exist
    (`unknown_segment`, `unknown_list`, `unknown_tag`); 406 for `empty_audience`,
    `unknown_placeholder`, `schedule_in_past`, `unknown_time_zone`, `insufficient_credits`,
    `agent_budget_exceeded` and the like."""
    payload = body.model_dump(mode="json", exclude={"dry_run", "reason"})
    return write(
        request,
        "start_campaign",
        payload,
        idempotency_key,
        dry_run=body.dry_run,
        reason=body.reason,
    )


@router.get(
    "/campaigns/{campaign_id}",
    response={200: CampaignStatusOut, **ERRORS},
    summary="A campaign's progress",
)
def status(request: HttpRequest, campaign_id: Path[Id]) -> Any:
    """Only campaigns this agent started: status, recipients, cost and messages by outcome."""
    return reads.campaign_status(agent_of(request, "campaigns:send"), campaign_id)
