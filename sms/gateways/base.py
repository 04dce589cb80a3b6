"""The gateway interface, the shared HTTP client, and the HMAC signature our callbacks use.

A gateway sends one message, reports the provider's balance when it has one, and turns the
provider's callbacks (status reports, inbound texts) into plain records. It never touches the
database: ``sms.services`` does, so sending, retries and accounting are the same for every
provider.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass
from decimal import Decimal

import httpx
from django.conf import settings
from django.http import HttpRequest

from dashboard.errors import SwitchboardError


class GatewayError(SwitchboardError):
    """The provider refused or could not be reached.

    ``permanent`` says whether sending the same message again is pointless (a rejected number)
    and ``retry_safe`` whether it is *safe*: only when the request certainly never arrived (no
    connection) can we try again without risking a double send.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        permanent: bool = True,
        retry_safe: bool = False,
        provider_code: str = "",
    ):
        super().__init__(code, message, provider_code=provider_code)
        self.permanent = permanent
        self.retry_safe = retry_safe
        self.provider_code = provider_code


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    # Set by the sandbox only: the delivery report it will "send" a moment later.
    simulated_report: str = ""
    simulated_error: str = ""


@dataclass(frozen=True)
class ProviderBalance:
    remaining: Decimal
    total: Decimal | None = None
    unit: str = "credits"


@dataclass(frozen=True)
class StatusReport:
    provider_id: str
    status: str  # the provider's word, mapped by sms.services.messages
    error_code: str = ""


@dataclass(frozen=True)
class InboundSms:
    sender: str
    text: str
    provider_id: str = ""


class Gateway:
    name = "base"

    @classmethod
    def from_settings(cls) -> Gateway:
        return cls()

    def send(self, *, to: str, text: str, reference: str) -> SendResult:
        """Hand one message to the provider. ``reference`` is our idempotency key."""
        raise NotImplementedError

    def balance(self) -> ProviderBalance | None:
        return None

    def verify(self, request: HttpRequest) -> bool:
        """Whether a callback really comes from the provider."""
        raise NotImplementedError

    def parse_status(self, request: HttpRequest) -> StatusReport:
        raise NotImplementedError

    def parse_inbound(self, request: HttpRequest) -> InboundSms:
        raise NotImplementedError


# --- One pooled HTTP client for every provider call -----------------------------------------
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def http_client() -> httpx.Client:
    """The process-wide client: pooled keep-alive connections, explicit timeouts.

    Sized for the worker's send concurrency, so every sending thread gets a connection.
    """
    global _client
    with _client_lock:
        if _client is None:
            size = max(settings.SMS_SEND_CONCURRENCY, 10)
            _client = httpx.Client(
                timeout=httpx.Timeout(settings.SMS_HTTP_TIMEOUT, connect=5.0),
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                headers={"User-Agent": "Switchboard-SMS/1"},
            )
        return _client


def reset_http_client() -> None:
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


# --- Our own callback signature (sandbox and Mailpro) ----------------------------------------
SIGNATURE_HEADER = "X-Switchboard-Signature"


def sign(body: bytes, secret: str | None = None) -> str:
    """Hex HMAC-SHA256 of the raw request body with SMS_WEBHOOK_SECRET."""
    key = (secret or settings.SMS_WEBHOOK_SECRET).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(request: HttpRequest) -> bool:
    given = request.headers.get(SIGNATURE_HEADER, "")
    return bool(given) and hmac.compare_digest(given, sign(request.body))


def form_or_json(request: HttpRequest) -> dict[str, str]:
    """Callback fields, whether posted as a form or as a JSON object."""
    if request.content_type == "application/json":
        import json

        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            raise SwitchboardError("bad_callback", "The callback body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise SwitchboardError("bad_callback", "The callback body must be a JSON object.")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    return {k: v for k, v in request.POST.items()}
