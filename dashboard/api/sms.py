"""SMS for agents: send (gated agents wait for approval), status, credits, verify, lookup."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Router

from dashboard.agents import reads
from dashboard.api.contacts import IdempotencyKey, write
from dashboard.api.core import ERRORS, agent_of
from dashboard.api.schemas import (
    CreditsOut,
    Id,
    LookupOut,
    MessageOut,
    SmsIn,
    SmsOut,
    VerifyCheckIn,
    VerifyCheckOut,
    VerifyStartIn,
    VerifyStartOut,
)

router = Router(tags=["sms"])


@router.post(
    "/sms",
    response={200: SmsOut, 201: SmsOut, 202: SmsOut, **ERRORS},
    summary="Send an SMS",
)
def send(
    request: HttpRequest, body: SmsIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    """201 queued (or scheduled after quiet hours); 202 `pending_approval` with an
    `approval_id` for gated agents; with `dry_run` 200 and the encoding, segments and price.
    406 for `suppressed`, `unsubscribed`, `no_consent`, `insufficient_credits`,
    `agent_budget_exceeded` and the like."""
    payload = body.model_dump(mode="json", exclude={"dry_run", "reason"})
    return write(
        request, "send_sms", payload, idempotency_key, dry_run=body.dry_run, reason=body.reason
    )


@router.get("/sms/credits", response={200: CreditsOut, **ERRORS}, summary="Credit balance")
def credits(request: HttpRequest) -> Any:
    """The account's balance, and this agent's monthly budget and what it spent of it."""
    return reads.credit_status(agent_of(request, "sms:send"))


@router.get("/sms/{message_id}", response={200: MessageOut, **ERRORS}, summary="A message's status")
def status(request: HttpRequest, message_id: Path[Id]) -> Any:
    """Only messages this agent sent (directly or through an approved request)."""
    return reads.message_status(agent_of(request, "sms:send"), message_id)


@router.post(
    "/verify/start", response={201: VerifyStartOut, **ERRORS}, summary="Text a one-time code"
)
def verify_start(
    request: HttpRequest, body: VerifyStartIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    return write(request, "start_verification", body.model_dump(mode="json"), idempotency_key)


@router.post("/verify/check", response={200: VerifyCheckOut, **ERRORS}, summary="Check a code")
def verify_check(
    request: HttpRequest, body: VerifyCheckIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    return write(request, "check_verification", body.model_dump(mode="json"), idempotency_key)


@router.get("/lookup/{phone}", response={200: LookupOut, **ERRORS}, summary="Look up a number")
def lookup(request: HttpRequest, phone: str) -> Any:
    """Country, type (mobile, fixed line…), time zones and carrier of a phone number."""
    agent_of(request, "contacts:read")
    return reads.lookup(phone)
