"""Twilio's Messages REST API over the shared httpx client, and its callback signatures.

Send: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` with basic auth and the form fields
``To``, ``From``, ``Body``, ``StatusCallback``. Callbacks carry ``X-Twilio-Signature``: the
base64 HMAC-SHA1, keyed with the auth token, of the full URL followed by every POST parameter
name and value sorted by name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal, InvalidOperation

import httpx
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from sms.gateways.base import (
    Gateway,
    GatewayError,
    InboundSms,
    ProviderBalance,
    SendResult,
    StatusReport,
    call_json,
    http_client,
    same_signature,
)


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TwilioGateway(Gateway):
    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        base_url: str = "https://api.twilio.com",
        public_base_url: str = "",
        client: httpx.Client | None = None,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.base_url = base_url.rstrip("/")
        self.public_base_url = public_base_url.rstrip("/")
        self._client = client

    @classmethod
    def from_settings(cls) -> TwilioGateway:
        return cls(
            account_sid=settings.TWILIO_ACCOUNT_SID,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            sender=settings.TWILIO_FROM,
            base_url=settings.TWILIO_API_URL,
            public_base_url=settings.SMS_PUBLIC_BASE_URL,
        )

    @property
    def client(self) -> httpx.Client:
        return self._client or http_client()

    def _account_url(self, path: str) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/{path}"

    def _request(self, method: str, url: str, **kwargs) -> dict:
        auth = (self.account_sid, self.auth_token)
        return call_json(
            lambda: self.client.request(method, url, auth=auth, **kwargs), provider="Twilio"
        )

    def send(self, *, to: str, text: str, reference: str) -> SendResult:
        form = {"To": to, "From": self.sender, "Body": text}
        if self.public_base_url:
            form["StatusCallback"] = self.public_base_url + reverse(
                "sms:status_callback", args=["twilio"]
            )
        data = self._request("POST", self._account_url("Messages.json"), data=form)
        sid = data.get("sid")
        if not sid:
            raise GatewayError(
                "gateway_bad_response", "Twilio accepted the request but gave no message sid.",
                permanent=False,
            )  # fmt: skip
        if data.get("status") == "failed" or data.get("error_code"):
            raise GatewayError(
                "gateway_rejected",
                f"Twilio rejected the message: {data.get('error_message') or 'no reason given'}.",
                provider_code=str(data.get("error_code") or ""),
            )
        return SendResult(str(sid))

    def balance(self) -> ProviderBalance | None:
        data = self._request("GET", self._account_url("Balance.json"))
        try:
            return ProviderBalance(Decimal(str(data["balance"])), unit=data.get("currency", ""))
        except (KeyError, InvalidOperation):
            raise GatewayError(
                "gateway_bad_response", "Twilio's balance answer has no balance."
            ) from None

    def verify(self, request: HttpRequest) -> bool:
        given = request.headers.get("X-Twilio-Signature", "")
        if not given or not self.auth_token:
            return False
        url = (self.public_base_url or request.build_absolute_uri("/").rstrip("/")) + (
            request.get_full_path()
        )
        params = {key: request.POST.get(key, "") for key in request.POST}
        expected = twilio_signature(self.auth_token, url, params)
        return same_signature(given, expected)

    def parse_status(self, request: HttpRequest) -> StatusReport:
        return StatusReport(
            request.POST.get("MessageSid", ""),
            request.POST.get("MessageStatus", ""),
            request.POST.get("ErrorCode", ""),
        )

    def parse_inbound(self, request: HttpRequest) -> InboundSms:
        return InboundSms(
            request.POST.get("From", ""),
            request.POST.get("Body", ""),
            request.POST.get("MessageSid", ""),
        )
