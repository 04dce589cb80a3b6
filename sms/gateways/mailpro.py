"""Mailpro's SMS API over the shared httpx client.

Requests are form-encoded with ``id_client`` and ``api_key``; answers are JSON with PascalCase
keys. ``manage.py sms_gateway_sim`` speaks this protocol locally.

- send: ``POST /sms/send/add_single.json`` (``to``, ``message``) ->
  ``{"Result": "OK", "IdSend": 123}`` or ``{"Result": "ERROR", "ErrorCode": "…", "Message": "…"}``
- balance: ``GET /sms/credit/get.json`` -> ``{"RemainingCredits": 120, "TotalCredits": 500}``

Callbacks (status and inbound) are configured on the Mailpro side to post to our endpoints and
are signed with our HMAC (``X-Switchboard-Signature``, see ``base.sign``):
status ``IdSend``, ``Status``, ``ErrorCode``; inbound ``From``, ``Message``, ``IdReceive``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from django.conf import settings
from django.http import HttpRequest

from sms.gateways.base import (
    Gateway,
    GatewayError,
    InboundSms,
    ProviderBalance,
    SendResult,
    StatusReport,
    call_json,
    form_or_json,
    http_client,
    send_pooled,
    verify_signature,
)


def _call(request: httpx.Request, client: httpx.Client | None) -> dict[str, Any]:
    """One call, on the given client or (None) the shared one's pool."""
    return call_json(
        (lambda: client.send(request)) if client is not None else (lambda: send_pooled(request)),
        provider="Mailpro", message_keys=("Message", "message"), code_keys=("ErrorCode",),
    )  # fmt: skip


class MailproGateway(Gateway):
    name = "mailpro"
    # Whether the account drops a repeated ``reference`` (our idempotency key) instead of sending
    # it twice; then a message whose worker died mid-send is safely handed over again.
    dedupes_reference = False

    def __init__(
        self, *, base_url: str, client_id: str, api_key: str, client: httpx.Client | None = None
    ):
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.api_key = api_key
        self._client = client
        # Parsed once: a URL string is parsed again for every request built from it.
        self._send_url = httpx.URL(f"{self.base_url}/sms/send/add_single.json")

    @classmethod
    def from_settings(cls) -> MailproGateway:
        gateway = cls(
            base_url=settings.MAILPRO_API_URL,
            client_id=settings.MAILPRO_CLIENT_ID,
            api_key=settings.MAILPRO_API_KEY,
        )
        gateway.dedupes_reference = settings.MAILPRO_DEDUPES_REFERENCE
        return gateway

    @property
    def client(self) -> httpx.Client:
        return self._client or http_client()

    def send(self, *, to: str, text: str, reference: str) -> SendResult:
        request = self.client.build_request(
            "POST",
            self._send_url,
            data={
                "id_client": self.client_id,
                "api_key": self.api_key,
                "to": to,
                "message": text,
                "reference": reference,
            },  # fmt: skip
        )
        data = _call(request, self._client)
        result = str(data.get("Result", ""))
        if result.upper() == "OK" and data.get("IdSend") not in (None, ""):
            return SendResult(str(data["IdSend"]))
        if result.upper() == "OK":
            raise GatewayError(
                "gateway_bad_response",
                "The SMS provider said OK but gave no message id.",
                permanent=False,
            )
        if result.upper() == "ERROR":
            raise GatewayError(
                "gateway_rejected",
                f"The SMS provider rejected the message: {data.get('Message') or 'no reason given'}.",
                provider_code=str(data.get("ErrorCode", "")),
            )
        raise GatewayError(
            "gateway_bad_response",
            f"The SMS provider answered with an unknown result “{result[:40]}”.",
            permanent=False,
        )

    def balance(self) -> ProviderBalance | None:
        request = self.client.build_request(
            "GET",
            f"{self.base_url}/sms/credit/get.json",
            params={"id_client": self.client_id, "api_key": self.api_key},
        )
        for attempt in range(3):
            try:
                data = _call(request, self.client)
                break
            except GatewayError as exc:
                # Reading the balance changes nothing: any failure may be retried.
                if exc.permanent or attempt == 2:
                    raise
        try:
            remaining = Decimal(str(data["RemainingCredits"]))
            total = Decimal(str(data["TotalCredits"])) if "TotalCredits" in data else None
        except (KeyError, InvalidOperation):
            raise GatewayError(
                "gateway_bad_response", "The SMS provider's balance answer has no credits."
            ) from None
        return ProviderBalance(remaining, total)

    def verify(self, request: HttpRequest) -> bool:
        return verify_signature(request)

    def parse_status(self, request: HttpRequest) -> StatusReport:
        data = form_or_json(request)
        return StatusReport(
            data.get("IdSend", ""), data.get("Status", ""), data.get("ErrorCode", "")
        )

    def parse_inbound(self, request: HttpRequest) -> InboundSms:
        data = form_or_json(request)
        return InboundSms(data.get("From", ""), data.get("Message", ""), data.get("IdReceive", ""))
