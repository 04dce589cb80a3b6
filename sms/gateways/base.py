"""The gateway interface, the shared HTTP client, and the HMAC signature our callbacks use.

A gateway sends one message, reports the provider's balance when it has one, and turns the
provider's callbacks (status reports, inbound texts) into plain records. It never touches the
database: ``sms.services`` does, so sending, retries and accounting are the same for every
provider.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from django.conf import settings
from django.http import HttpRequest

from dashboard import jsonvalues
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


def storable(text: str) -> str:
    """Provider text as a database can hold it: NUL characters (GSM-7's "@" is 0x00, and some
    providers pass it on as is) and unpaired surrogates (half an emoji in a JSON body) become
    U+FFFD. PostgreSQL refuses the first and both databases the second, which would turn a
    callback into a 500 that the provider retries for ever."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


class _StorableFields:
    """A callback record whose text fields are made ``storable`` when it is built."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, str):
                object.__setattr__(self, name, storable(value))


@dataclass(frozen=True)
class StatusReport(_StorableFields):
    provider_id: str
    status: str  # the provider's word, mapped by sms.services.messages
    error_code: str = ""


@dataclass(frozen=True)
class InboundSms(_StorableFields):
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
_transport: ShardedTransport | None = None  # the client's; see send_pooled
_client_lock = threading.Lock()


POOL_SHARD = 4  # connections per pool of the sharded transport


class ShardedTransport(httpx.BaseTransport):
    """Keep-alive connection pools of ``POOL_SHARD`` connections each, a sending thread always
    using the same one.

    httpcore's pool looks at every connection and every waiting request, under one lock, each
    time a request starts or ends: with 64 sending threads on one pool of 64 connections that
    costs more CPU than the HTTP itself and caps a worker at a few hundred messages a second.
    Small pools keep that work constant; together they hold the same number of connections.
    """

    def __init__(self, *, size: int, shard: int = POOL_SHARD):
        count = max(1, -(-size // shard))
        limits = httpx.Limits(max_connections=shard, max_keepalive_connections=shard)
        self._pools = [httpx.HTTPTransport(limits=limits) for _ in range(count)]
        self._turn = itertools.count()
        self._local = threading.local()

    def _pool(self) -> httpx.HTTPTransport:
        index = getattr(self._local, "index", None)
        if index is None:
            index = self._local.index = next(self._turn) % len(self._pools)
        return self._pools[index]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._pool().handle_request(request)

    def close(self) -> None:
        for pool in self._pools:
            pool.close()


def http_client() -> httpx.Client:
    """The process-wide client: pooled keep-alive connections, explicit timeouts.

    Sized for the worker's send concurrency, so every sending thread gets a connection.
    """
    global _client, _transport
    if _client is not None:  # every send asks: no lock once it exists
        return _client
    with _client_lock:
        if _client is None:
            size = max(settings.SMS_SEND_CONCURRENCY, 10)
            _transport = ShardedTransport(size=size)
            _client = httpx.Client(
                timeout=httpx.Timeout(settings.SMS_HTTP_TIMEOUT, connect=5.0),
                transport=_transport,
                headers={"User-Agent": "Switchboard-SMS/1"},
            )
        return _client


def send_pooled(request: httpx.Request) -> httpx.Response:
    """Send a request built by ``http_client().build_request`` on that client's pooled
    connections and read the answer: ``Client.send`` without its cookie jar, auth flow,
    redirect handling and event hooks, none of which a provider API call uses (the client
    sets none, and follows no redirects). At a thousand sends a second those layers cost a
    quarter of the CPU each send takes."""
    http_client()
    assert _transport is not None
    response = _transport.handle_request(request)
    response.request = request
    try:
        response.read()
    finally:
        response.close()
    return response


def reset_http_client() -> None:
    global _client, _transport
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = _transport = None


# --- Our own callback signature (sandbox and Mailpro) ----------------------------------------
SIGNATURE_HEADER = "X-Switchboard-Signature"


def sign(body: bytes, secret: str | None = None) -> str:
    """Hex HMAC-SHA256 of the raw request body with SMS_WEBHOOK_SECRET."""
    key = (secret or settings.SMS_WEBHOOK_SECRET).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def same_signature(given: str, expected: str) -> bool:
    """A constant-time comparison of a signature header with ours. As bytes: headers arrive
    decoded as latin-1, and ``compare_digest`` raises on a string with non-ASCII characters
    (a forged "é" would be a 500 instead of a 403)."""
    return bool(given) and hmac.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("utf-8", "replace")
    )


def verify_signature(request: HttpRequest) -> bool:
    return same_signature(request.headers.get(SIGNATURE_HEADER, ""), sign(request.body))


def form_or_json(request: HttpRequest) -> dict[str, str]:
    """Callback fields, whether posted as a form or as a JSON object."""
    if request.content_type == "application/json":
        try:
            data = jsonvalues.loads(request.body or b"{}")
        except ValueError:
            raise SwitchboardError("bad_callback", "The callback body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise SwitchboardError("bad_callback", "The callback body must be a JSON object.")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    return {k: v for k, v in request.POST.items()}


def call_json(
    send: Callable[[], httpx.Response],
    *,
    provider: str,
    message_keys: tuple[str, ...] = ("message",),
    code_keys: tuple[str, ...] = ("code",),
) -> dict[str, Any]:
    """Make one provider call and return its JSON object, or raise a ``GatewayError`` that says
    whether the request may have been acted on: only a request that never reached the provider
    (or that it refused as too busy) is safe to try again."""
    try:
        response = send()
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise GatewayError(
            "gateway_unreachable", f"{provider} could not be reached ({type(exc).__name__}).",
            permanent=False, retry_safe=True,
        ) from None  # fmt: skip
    except httpx.TimeoutException:
        raise GatewayError(
            "gateway_timeout",
            f"{provider} did not answer in time; the message may or may not have gone, so it is "
            "not sent again.",
            permanent=False,
        ) from None
    except httpx.HTTPError as exc:
        raise GatewayError(
            "gateway_error",
            f"{provider} connection failed ({type(exc).__name__}).",
            permanent=False,
        ) from None
    status = response.status_code
    if status in (429, 503):
        raise GatewayError(
            "gateway_busy", f"{provider} is busy (HTTP {status}).",
            permanent=False, retry_safe=True, provider_code=str(status),
        )  # fmt: skip
    if status >= 500:
        raise GatewayError(
            "gateway_error", f"{provider} failed (HTTP {status}); not sent again in case it went out.",
            permanent=False, provider_code=str(status),
        )  # fmt: skip
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise GatewayError(
            "gateway_bad_response",
            f"{provider} answered HTTP {status} with something that is not a JSON object.",
            permanent=False, provider_code=str(status),
        )  # fmt: skip
    if status >= 400:
        reason = next((data[k] for k in message_keys if data.get(k)), "no reason given")
        code = next((data[k] for k in code_keys if data.get(k)), status)
        raise GatewayError(
            "gateway_rejected", f"{provider} refused the request (HTTP {status}): {reason}.",
            provider_code=str(code),
        )  # fmt: skip
    return data
