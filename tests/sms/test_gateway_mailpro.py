"""The Mailpro client: the exact requests it sends, and every way a provider can misbehave,
against httpx.MockTransport and against the simulator over real HTTP."""

from __future__ import annotations

import json
import re
import socket
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest
from django.core.management import CommandError, call_command

from sms.gateways.base import GatewayError
from sms.gateways.mailpro import MailproGateway
from sms.simulator import start_simulator


def gateway_with(handler, seen: list | None = None) -> MailproGateway:
    def record(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return handler(request)

    client = httpx.Client(transport=httpx.MockTransport(record), timeout=1)
    return MailproGateway(
        base_url="https://api.mailpro.test/v2/", client_id="c42", api_key="k", client=client
    )


def test_it_posts_the_form_mailpro_expects_and_returns_the_send_id():
    seen: list[httpx.Request] = []
    gateway = gateway_with(
        lambda r: httpx.Response(200, json={"Result": "OK", "IdSend": 987}), seen
    )
    result = gateway.send(to="+447400123456", text="Hi Alice €", reference="key-1")
    assert result.provider_id == "987"
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://api.mailpro.test/v2/sms/send/add_single.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "id_client": ["c42"], "api_key": ["k"], "to": ["+447400123456"], "message": ["Hi Alice €"],
        "reference": ["key-1"],  # our idempotency key
    }  # fmt: skip


def test_it_reads_the_balance_with_a_get():
    seen: list[httpx.Request] = []
    gateway = gateway_with(
        lambda r: httpx.Response(200, json={"RemainingCredits": 120.5, "TotalCredits": 500}), seen
    )
    balance = gateway.balance()
    assert (balance.remaining, balance.total) == (Decimal("120.5"), Decimal("500"))
    assert seen[0].method == "GET"
    assert seen[0].url.path == "/v2/sms/credit/get.json"
    assert dict(seen[0].url.params) == {"id_client": "c42", "api_key": "k"}


def _raise(exc):
    def handler(request):
        raise exc("boom", request=request)

    return handler


@pytest.mark.parametrize(
    ("handler", "code", "retry_safe", "permanent"),
    [
        (_raise(httpx.ConnectError), "gateway_unreachable", True, False),
        (_raise(httpx.ConnectTimeout), "gateway_unreachable", True, False),
        # The request may have arrived: never retried, or it could go out twice.
        (_raise(httpx.ReadTimeout), "gateway_timeout", False, False),
        (lambda r: httpx.Response(500, text="<html>oops</html>"), "gateway_error", False, False),
        (lambda r: httpx.Response(503, text="busy"), "gateway_busy", True, False),
        (
            lambda r: httpx.Response(200, text='{"Result": "OK", "IdSe'),
            "gateway_bad_response",
            False,
            False,
        ),
        (lambda r: httpx.Response(200, json=["OK"]), "gateway_bad_response", False, False),
        (
            lambda r: httpx.Response(200, json={"Result": "MAYBE"}),
            "gateway_bad_response",
            False,
            False,
        ),
        (
            lambda r: httpx.Response(200, json={"Result": "OK"}),
            "gateway_bad_response",
            False,
            False,
        ),
        (
            lambda r: httpx.Response(
                200, json={"Result": "ERROR", "ErrorCode": "E12", "Message": "Bad number"}
            ),
            "gateway_rejected",
            False,
            True,
        ),
        (
            lambda r: httpx.Response(401, json={"Message": "Bad credentials"}),
            "gateway_rejected",
            False,
            True,
        ),
    ],
)
def test_it_turns_provider_failures_into_gateway_errors(handler, code, retry_safe, permanent):
    with pytest.raises(GatewayError) as caught:
        gateway_with(handler).send(to="+447400123456", text="x", reference="r")
    assert caught.value.code == code
    assert (caught.value.retry_safe, caught.value.permanent) == (retry_safe, permanent)
    assert caught.value.message


def test_the_rejection_carries_the_providers_error_code():
    gateway = gateway_with(
        lambda r: httpx.Response(
            200, json={"Result": "ERROR", "ErrorCode": "E12", "Message": "Bad number"}
        )
    )
    with pytest.raises(GatewayError) as caught:
        gateway.send(to="+447400123456", text="x", reference="r")
    assert caught.value.provider_code == "E12"
    assert "Bad number" in caught.value.message


def test_a_failed_balance_read_is_retried_because_it_changes_nothing():
    calls = []

    def flaky(request):
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(500)
        return httpx.Response(200, json={"RemainingCredits": 7})

    assert gateway_with(flaky).balance().remaining == Decimal("7")
    assert len(calls) == 3


@pytest.fixture
def simulator():
    servers = []

    def start(**config):
        server = start_simulator(client_id="c42", api_key="k", **config)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def simulated(server, timeout: float = 2.0) -> MailproGateway:
    # Every connection stays pooled, as in the shared client (gateways.base.http_client): with
    # fewer keep-alive slots than threads, httpcore's pool can close a surplus connection it has
    # just handed to a waiting request (encode/httpcore#1110), whose send then fails with
    # "Bad file descriptor", about once in 1,500 sends here.
    client = httpx.Client(
        timeout=timeout, limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
    )
    return MailproGateway(base_url=server.url, client_id="c42", api_key="k", client=client)


def test_it_sends_through_the_simulator_over_http(simulator):
    server = simulator()
    gateway = simulated(server)
    first = gateway.send(to="+447400123456", text="one", reference="a")
    second = gateway.send(to="+447400123456", text="two", reference="b")
    assert int(second.provider_id) == int(first.provider_id) + 1
    assert [r["message"] for r in server.state.received] == ["one", "two"]
    assert gateway.balance().remaining == Decimal("999998")


def test_the_simulator_refuses_bad_credentials(simulator):
    server = simulator()
    client = httpx.Client(timeout=2)
    gateway = MailproGateway(base_url=server.url, client_id="c42", api_key="wrong", client=client)
    with pytest.raises(GatewayError) as caught:
        gateway.send(to="+447400123456", text="x", reference="r")
    assert caught.value.code == "gateway_rejected" and caught.value.permanent


@pytest.mark.parametrize(
    ("config", "code"),
    [
        ({"error_rate": 1.0}, "gateway_error"),
        ({"malformed_rate": 1.0}, "gateway_bad_response"),
        ({"timeout_rate": 1.0, "hang_seconds": 1.0}, "gateway_timeout"),
    ],
)
def test_simulated_failures_reach_the_client_as_gateway_errors(simulator, config, code):
    gateway = simulated(simulator(**config), timeout=0.3)
    with pytest.raises(GatewayError) as caught:
        gateway.send(to="+447400123456", text="x", reference="r")
    assert caught.value.code == code


def test_a_closed_port_is_unreachable_and_safe_to_retry():
    gateway = MailproGateway(
        base_url="http://127.0.0.1:9", client_id="c", api_key="k", client=httpx.Client(timeout=1)
    )
    with pytest.raises(GatewayError) as caught:
        gateway.send(to="+447400123456", text="x", reference="r")
    assert caught.value.code == "gateway_unreachable" and caught.value.retry_safe


def test_the_simulator_serves_many_concurrent_requests(simulator):
    from concurrent.futures import ThreadPoolExecutor

    server = simulator(latency_ms=50)
    gateway = simulated(server, timeout=5)
    with ThreadPoolExecutor(100) as pool:
        ids = list(
            pool.map(
                lambda i: (
                    gateway.send(to="+447400123456", text=str(i), reference=str(i)).provider_id
                ),
                range(200),
            )
        )
    assert len(set(ids)) == 200
    assert json.loads(json.dumps(len(server.state.received))) == 200


@pytest.fixture
def shared_client(settings):
    """Gateways without a client of their own use the process-wide one (its pooled transport,
    straight): made afresh for the test's settings, and dropped after it."""
    from sms.gateways.base import reset_http_client

    settings.SMS_HTTP_TIMEOUT = 0.3
    reset_http_client()
    yield
    reset_http_client()


def test_the_shared_client_sends_through_the_simulator_over_http(simulator, shared_client):
    server = simulator()
    gateway = MailproGateway(base_url=server.url, client_id="c42", api_key="k")
    first = gateway.send(to="+447400123456", text="one", reference="a")
    second = gateway.send(to="+447400123456", text="two", reference="b")
    assert int(second.provider_id) == int(first.provider_id) + 1
    assert [(r["to"], r["message"], r["reference"]) for r in server.state.received] == [
        ("+447400123456", "one", "a"), ("+447400123456", "two", "b"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("config", "code", "retry_safe"),
    [
        ({"error_rate": 1.0}, "gateway_error", False),
        ({"busy_rate": 1.0}, "gateway_busy", True),
        ({"malformed_rate": 1.0}, "gateway_bad_response", False),
        ({"timeout_rate": 1.0, "hang_seconds": 1.0}, "gateway_timeout", False),
    ],
)
def test_the_shared_client_turns_failures_into_the_same_gateway_errors(
    simulator, shared_client, config, code, retry_safe
):
    gateway = MailproGateway(base_url=simulator(**config).url, client_id="c42", api_key="k")
    with pytest.raises(GatewayError) as caught:
        gateway.send(to="+447400123456", text="x", reference="r")
    assert (caught.value.code, caught.value.retry_safe) == (code, retry_safe)
    # The connection went back to the pool: the next send is answered as well.
    with pytest.raises(GatewayError):
        gateway.send(to="+447400123456", text="y", reference="s")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "--port must be 0 to 65535"),
        (["--malformed-rate", "2"], "--malformed-rate must be between 0 and 1"),
        (["--callback-url", "hooks/status"], "--callback-url must be an http(s) URL"),
    ],
)
def test_the_simulator_command_explains_bad_options(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("sms_gateway_sim", *args)


def test_the_simulator_command_says_when_its_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"Cannot listen on 127.0.0.1:{port}"):
            call_command("sms_gateway_sim", "--port", str(port))
