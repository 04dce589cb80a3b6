"""The sandbox gateway: no network. It records what it would send and simulates acceptance
and, a moment later, a delivery report, so the whole flow can be tried without a provider.

Test numbers fail deterministically, by their last three digits:

- ``…000``: rejected by the "provider" (permanent failure, error ``21211``, refunded);
- ``…111``: accepted, then reported ``undelivered`` (error ``30003``, unreachable handset);
- ``…222``: the provider cannot be reached (connection refused; retried, then failed);
- anything else: accepted, then ``delivered``.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from dataclasses import dataclass

from django.http import HttpRequest

from sms.gateways.base import (
    Gateway,
    GatewayError,
    InboundSms,
    ProviderBalance,
    SendResult,
    StatusReport,
    form_or_json,
    verify_signature,
)

log = logging.getLogger(__name__)

REJECTED_SUFFIX = "000"
UNDELIVERED_SUFFIX = "111"
UNREACHABLE_SUFFIX = "222"


@dataclass(frozen=True)
class Sent:
    to: str
    text: str
    reference: str
    provider_id: str


# What the sandbox "sent", newest last; tests read it (the only place a code may be seen).
OUTBOX: deque[Sent] = deque(maxlen=1000)
_ids = itertools.count(1)
_lock = threading.Lock()


class SandboxGateway(Gateway):
    name = "sandbox"

    def send(self, *, to: str, text: str, reference: str) -> SendResult:
        if to.endswith(UNREACHABLE_SUFFIX):
            raise GatewayError(
                "gateway_unreachable",
                "Sandbox: the provider could not be reached (test number …222).",
                permanent=False,
                retry_safe=True,
            )
        if to.endswith(REJECTED_SUFFIX):
            raise GatewayError(
                "gateway_rejected",
                "Sandbox: the provider rejected the number (test number …000).",
                provider_code="21211",
            )
        with _lock:
            provider_id = f"sbx-{next(_ids)}-{reference[:12]}"
            OUTBOX.append(Sent(to, text, reference, provider_id))
        log.debug("sandbox: accepted %s for %s", provider_id, to[:-4] + "****")
        if to.endswith(UNDELIVERED_SUFFIX):
            return SendResult(provider_id, simulated_report="undelivered", simulated_error="30003")
        return SendResult(provider_id, simulated_report="delivered")

    def balance(self) -> ProviderBalance | None:
        return None

    def verify(self, request: HttpRequest) -> bool:
        return verify_signature(request)

    def parse_status(self, request: HttpRequest) -> StatusReport:
        data = form_or_json(request)
        return StatusReport(data.get("id", ""), data.get("status", ""), data.get("error_code", ""))

    def parse_inbound(self, request: HttpRequest) -> InboundSms:
        data = form_or_json(request)
        return InboundSms(data.get("from", ""), data.get("text", ""), data.get("id", ""))
