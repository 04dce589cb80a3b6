"""The worker side: claiming, sending concurrently, outcomes, refunds, simulated reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from sms.gateways import sandbox
from sms.gateways.base import reset_http_client
from sms.models import Message, Status
from sms.services import credits
from sms.services.messages import claim_batch, fail_stale_sending, send_due_messages, send_sms
from sms.simulator import start_simulator
from sms.tasks import apply_simulated_reports

from .conftest import MOBILE, REJECTED, UNDELIVERED, UNREACHABLE

pytestmark = pytest.mark.django_db


def queue(actor, to=MOBILE, text="Hello", n=1):
    return [send_sms(actor=actor, to=to, text=f"{text} {i}").message for i in range(n)]


def test_a_worker_sends_due_messages_and_records_the_provider_id(funded, staff_actor):
    messages = queue(staff_actor, n=3)
    stats = send_due_messages()
    assert (stats.claimed, stats.sent, stats.failed) == (3, 3, 0)
    for message in messages:
        message.refresh_from_db()
        assert message.status == Status.SENT and message.provider_id.startswith("sbx-")
        assert list(message.events.values_list("status", flat=True)) == ["pending", "sent"]
    assert sorted(s.text for s in sandbox.OUTBOX) == ["Hello 0", "Hello 1", "Hello 2"]


def test_the_sandbox_reports_delivery_a_moment_later(
    funded, staff_actor, django_capture_on_commit_callbacks
):
    message, bad = queue(staff_actor)[0], queue(staff_actor, to=UNDELIVERED)[0]
    send_due_messages()
    reports = [["sandbox", m.provider_id, *r] for m, r in
               [(Message.objects.get(pk=message.pk), ["delivered", ""]),
                (Message.objects.get(pk=bad.pk), ["undelivered", "30003"])]]  # fmt: skip
    apply_simulated_reports.call(reports)
    message.refresh_from_db()
    bad.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert (bad.status, bad.error_code) == (Status.UNDELIVERED, "30003")


def test_a_rejected_message_fails_with_the_reason_and_its_credits_come_back(funded, staff_actor):
    message = queue(staff_actor, to=REJECTED)[0]
    assert credits.get_balance() == Decimal("9.96")
    stats = send_due_messages()
    message.refresh_from_db()
    assert stats.failed == 1
    assert (message.status, message.error_code) == (Status.FAILED, "21211")
    assert "rejected" in message.error_message
    assert credits.get_balance() == Decimal("10")
    assert credits.ledger_total() == Decimal("10")


def test_an_unreachable_provider_is_retried_then_the_message_fails(
    funded, staff_actor, monkeypatch
):
    monkeypatch.setattr("sms.services.messages.time.sleep", lambda s: None)
    calls = []
    original = sandbox.SandboxGateway.send
    monkeypatch.setattr(sandbox.SandboxGateway, "send",
                        lambda self, **kw: calls.append(kw) or original(self, **kw))  # fmt: skip
    message = queue(staff_actor, to=UNREACHABLE)[0]
    send_due_messages()
    message.refresh_from_db()
    assert len(calls) == 3
    assert (message.status, message.error_code) == (Status.FAILED, "gateway_unreachable")
    assert credits.get_balance() == Decimal("10")


def test_two_workers_never_claim_the_same_message(funded, staff_actor):
    queue(staff_actor, n=5)
    first, second = claim_batch(limit=3), claim_batch(limit=10)
    assert len(first) == 3 and len(second) == 2
    assert not {m.pk for m in first} & {m.pk for m in second}
    assert claim_batch(limit=10) == []


def test_scheduled_messages_wait_for_their_time(funded, contact, staff_actor, settings):
    settings.SMS_QUIET_HOURS = "00:00-23:59"
    message = send_sms(actor=staff_actor, contact=contact, text="Sale", kind="marketing").message
    assert send_due_messages().claimed == 0
    Message.objects.filter(pk=message.pk).update(
        send_after=timezone.now() - dt.timedelta(seconds=1)
    )
    assert send_due_messages().sent == 1


def test_a_message_left_sending_by_a_dead_worker_fails_with_a_reason(funded, staff_actor):
    message = queue(staff_actor)[0]
    claim_batch(limit=1)
    Message.objects.filter(pk=message.pk).update(claimed_at=timezone.now() - dt.timedelta(hours=1))
    assert fail_stale_sending() == 1
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.FAILED, "send_interrupted")
    assert credits.get_balance() == Decimal("10")


def test_a_one_time_code_is_blanked_once_the_gateway_has_it(funded, staff_actor):
    message = send_sms(actor=staff_actor, to=MOBILE, text="Code {code}", secret="123456").message
    assert message.text == "Code {code}" and message.secret == "123456"
    send_due_messages()
    message.refresh_from_db()
    assert message.secret == "" and message.text == "Code {code}"
    assert sandbox.OUTBOX[-1].text == "Code 123456"


@pytest.fixture
def mailpro_sim(settings):
    servers = []

    def start(**config):
        server = start_simulator(**config)
        servers.append(server)
        settings.SMS_GATEWAY = "mailpro"
        settings.MAILPRO_API_URL = server.url
        settings.SMS_HTTP_TIMEOUT = 0.5
        reset_http_client()
        return server

    yield start
    reset_http_client()
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_worker_sends_concurrently_through_the_simulator(funded, staff_actor, mailpro_sim):
    server = mailpro_sim(latency_ms=50)
    queue(staff_actor, n=40)
    stats = send_due_messages()
    assert stats.sent == 40
    assert Message.objects.filter(status=Status.SENT).exclude(provider_id="").count() == 40
    assert len(server.state.received) == 40


@pytest.mark.parametrize(
    ("config", "code"),
    [({"error_rate": 1.0}, "500"), ({"malformed_rate": 1.0}, "200"),
     ({"timeout_rate": 1.0, "hang_seconds": 2}, "gateway_timeout")],
)  # fmt: skip
def test_a_failing_provider_fails_the_message_once_with_a_reason_and_refunds(
    funded, staff_actor, mailpro_sim, config, code
):
    server = mailpro_sim(**config)
    message = queue(staff_actor)[0]
    send_due_messages()
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.FAILED, code)
    assert message.error_message
    assert credits.get_balance() == Decimal("10")
    # Not retried: the provider may have acted on it.
    assert len(server.state.received) == 0


def busy_provider(monkeypatch):
    from sms.gateways.base import GatewayError

    def refuse(self, **kwargs):
        raise GatewayError("gateway_busy", "Sandbox: busy (HTTP 429).", permanent=False,
                           retry_safe=True, provider_code="429")  # fmt: skip

    monkeypatch.setattr("sms.services.messages.time.sleep", lambda s: None)
    monkeypatch.setattr(sandbox.SandboxGateway, "send", refuse)


def test_a_message_queued_long_before_it_was_due_is_retried_when_the_provider_is_busy(
    funded, staff_actor, monkeypatch
):
    # Scheduled yesterday for now (or held by quiet hours overnight): one 429 is no reason to
    # give up on it, as it would be for a message the provider had refused for an hour.
    message = queue(staff_actor)[0]
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - dt.timedelta(days=1))
    busy_provider(monkeypatch)

    send_due_messages()

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.PENDING, "")
    assert message.send_after > timezone.now()
    assert credits.get_balance() == Decimal("9.96")  # still charged: it is going out


def test_a_message_the_provider_has_been_too_busy_for_an_hour_fails_and_is_refunded(
    funded, staff_actor, monkeypatch
):
    message = queue(staff_actor)[0]
    busy_provider(monkeypatch)
    send_due_messages()  # the first refusal
    hour_ago = timezone.now() - dt.timedelta(hours=1, minutes=1)
    message.events.filter(error_code="gateway_busy").update(at=hour_ago)
    Message.objects.filter(pk=message.pk).update(send_after=timezone.now())

    send_due_messages()

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.FAILED, "429")
    assert credits.get_balance() == Decimal("10")


def test_a_message_waiting_for_its_rate_limit_slot_is_not_taken_for_a_dead_workers(
    funded, staff_actor, settings, monkeypatch
):
    # One message a second, and twenty minutes of other workers' messages booked ahead of
    # this one: it waits longer than the lease, and is still this worker's to send.
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sms.campaigns.ratelimit import push_back
    from sms.services import messages as service

    settings.SMS_RATE_LIMITS = {"sandbox": 1.0}
    push_back("sandbox", 20 * 60)
    message = queue(staff_actor)[0]
    waiting, go_on = threading.Event(), threading.Event()
    monkeypatch.setattr(
        "sms.services.messages.time.sleep", lambda s: waiting.set() or go_on.wait(5)
    )

    batch = claim_batch(limit=10)
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = service._hand_over_all(pool, batch)
        assert waiting.wait(5)  # the sending thread waits for the slot
        # Meanwhile other workers look for sends whose worker died, however short the lease.
        assert service.requeue_stale_sending(lease=0) == 0
        assert fail_stale_sending(older_than=dt.timedelta(0)) == 0
        go_on.set()
        service._record_outcomes(batch, outcomes(), service.DispatchStats())

    message.refresh_from_db()
    assert message.status == Status.SENT
    assert list(message.events.values_list("status", flat=True)) == ["pending", "sent"]
    assert credits.get_balance() == Decimal("9.96")  # charged once, not refunded
    assert len(sandbox.OUTBOX) == 1
