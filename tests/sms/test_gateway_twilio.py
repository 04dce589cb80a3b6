"""The Twilio client: the exact request, failures, and callback signature validation."""

from __future__ import annotations

import base64
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest
from django.test import RequestFactory

from sms.gateways.base import GatewayError
from sms.gateways.twilio import TwilioGateway, twilio_signature


def gateway_with(handler, seen: list | None = None) -> TwilioGateway:
    def record(request):
        if seen is not None:
            seen.append(request)
        return handler(request)

    return TwilioGateway(
        account_sid="AC123", auth_token="tok", sender="+15005550006",
        base_url="https://api.twilio.test", public_base_url="https://sb.example.com",
        client=httpx.Client(transport=httpx.MockTransport(record), timeout=1),
    )  # fmt: skip


def test_it_posts_to_the_messages_resource_with_basic_auth_and_a_status_callback():
    seen: list[httpx.Request] = []
    gateway = gateway_with(
        lambda r: httpx.Response(201, json={"sid": "SM1", "status": "queued", "error_code": None}),
        seen,
    )
    assert gateway.send(to="+447400123456", text="Hello", reference="k").provider_id == "SM1"
    (request,) = seen
    assert str(request.url) == "https://api.twilio.test/2010-04-01/Accounts/AC123/Messages.json"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"AC123:tok").decode()
    assert parse_qs(request.content.decode()) == {
        "To": ["+447400123456"], "From": ["+15005550006"], "Body": ["Hello"],
        "StatusCallback": ["https://sb.example.com/sms/hooks/twilio/status/"],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (
            httpx.Response(400, json={"code": 21211, "message": "Invalid 'To' Phone Number"}),
            "gateway_rejected",
        ),
        (httpx.Response(500, text="oops"), "gateway_error"),
        (httpx.Response(429, json={"message": "Too many"}), "gateway_busy"),
        (httpx.Response(201, text="not json"), "gateway_bad_response"),
        (httpx.Response(201, json={"status": "queued"}), "gateway_bad_response"),
    ],
)
def test_it_turns_twilio_failures_into_gateway_errors(response, code):
    with pytest.raises(GatewayError) as caught:
        gateway_with(lambda r: response).send(to="+447400123456", text="x", reference="k")
    assert caught.value.code == code


def test_an_invalid_number_carries_twilios_error_code():
    response = httpx.Response(400, json={"code": 21211, "message": "Invalid 'To' Phone Number"})
    with pytest.raises(GatewayError) as caught:
        gateway_with(lambda r: response).send(to="+447400123456", text="x", reference="k")
    assert caught.value.provider_code == "21211" and caught.value.permanent


def test_a_read_timeout_is_not_retried():
    def hang(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(GatewayError) as caught:
        gateway_with(hang).send(to="+447400123456", text="x", reference="k")
    assert caught.value.code == "gateway_timeout" and not caught.value.retry_safe


def test_it_reads_the_account_balance():
    gateway = gateway_with(
        lambda r: httpx.Response(200, json={"balance": "12.34", "currency": "USD"})
    )
    balance = gateway.balance()
    assert (balance.remaining, balance.unit) == (Decimal("12.34"), "USD")


def test_it_validates_twilios_documented_signature_example():
    # From Twilio's security documentation.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}  # fmt: skip
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_it_accepts_a_correctly_signed_callback_and_refuses_a_forged_one():
    gateway = gateway_with(lambda r: httpx.Response(200))
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    signature = twilio_signature("tok", "https://sb.example.com/sms/hooks/twilio/status/", params)
    factory = RequestFactory()
    good = factory.post("/sms/hooks/twilio/status/", params, HTTP_X_TWILIO_SIGNATURE=signature)
    forged = factory.post("/sms/hooks/twilio/status/", {**params, "MessageStatus": "failed"},
                          HTTP_X_TWILIO_SIGNATURE=signature)  # fmt: skip
    assert gateway.verify(good)
    assert not gateway.verify(forged)
    assert not gateway.verify(factory.post("/sms/hooks/twilio/status/", params))
