"""Sending a campaign's messages through the simulator over HTTP: the shared rate limit, 429s
put back in the queue, a dead worker's messages handed over again without a double send."""

from __future__ import annotations

import datetime as dt
import statistics
import threading

import pytest
from django.db import connection
from django.utils import timezone

from sms.campaigns.ratelimit import take_slots
from sms.campaigns.services.campaigns import run_campaign, start_campaign
from sms.gateways.base import reset_http_client
from sms.models import Message
from sms.services import messages
from sms.services.messages import requeue_stale_sending, send_due_messages
from sms.simulator import start_simulator

from .conftest import SYSTEM, ledger_balances
from .fleet import make_audience

pytestmark = pytest.mark.django_db


@pytest.fixture
def simulator(settings):
    servers = []

    def start(**config):
        server = start_simulator(**config)
        servers.append(server)
        settings.SMS_GATEWAY, settings.MAILPRO_API_URL = "mailpro", server.url
        settings.MAILPRO_DEDUPES_REFERENCE = True
        reset_http_client()
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
    reset_http_client()


def queue_campaign(n: int) -> int:
    audience = make_audience(n)
    campaign = start_campaign(actor=SYSTEM, text="Sale", audience_kind="list",
                              audience_id=audience.pk, quiet_hours="").campaign  # fmt: skip
    run_campaign(campaign_id=campaign.pk)  # start and create every message
    return campaign.pk


def test_slots_taken_by_several_workers_never_overlap_and_keep_the_rate(db):
    taken: list[float] = []
    for _ in range(10):  # two workers taking turns, 50 slots at a time
        taken += take_slots("mailpro", 50, rate=100)
    assert taken == sorted(taken)
    gaps = {round(b - a, 6) for a, b in zip(taken, taken[1:], strict=False)}
    assert gaps == {0.01}
    # Any 60 seconds hold at most rate x 60 slots.
    assert len(taken) == 500 and taken[-1] - taken[0] == pytest.approx(4.99)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent connections")
@pytest.mark.django_db(transaction=True)
def test_workers_in_parallel_share_the_rate(db):
    taken: list[list[float]] = [[], []]

    def worker(i: int) -> None:
        for _ in range(10):
            taken[i].extend(take_slots("mailpro", 20, rate=200))
        connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = sorted(taken[0] + taken[1])
    assert len(set(both)) == 400
    assert min(b - a for a, b in zip(both, both[1:], strict=False)) == pytest.approx(
        0.005, abs=1e-6
    )


def test_a_rate_limited_gateway_gets_no_more_than_its_rate(
    settings, simulator, balance, monkeypatch
):
    server = simulator()
    settings.SMS_RATE_LIMITS = {"mailpro": 100.0}
    settings.SMS_DISPATCH_BATCH = 50  # four batches, each taking its slots from the bucket
    queue_campaign(200)
    slots: list[float] = []
    take = messages._slots
    monkeypatch.setattr(
        messages, "_slots", lambda batch: slots.extend(take(batch)) or slots[-len(batch) :]
    )

    send_due_messages()

    arrivals = sorted(float(r["at"]) for r in server.state.received)
    assert len(arrivals) == 200
    slots.sort()
    # 100 a second: never closer than 10 ms apart, so 200 slots span at least 1.99 s; and
    # at the rate, not below it: slots within a batch are 10 ms apart. (Between batches the
    # gap may stretch: a batch claimed late on a busy machine restarts the bucket at "now".
    # The whole span once was bounded too, and failed whenever the machine was busy.)
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert min(gaps) >= 0.01 - 1e-6
    assert slots[-1] - slots[0] >= 1.99 - 1e-6
    assert statistics.median(gaps) == pytest.approx(0.01, abs=1e-4)
    # No message reaches the provider before its slot, so no window holds more than its
    # share; the last one arrives on time (the first few wait for new connections).
    assert all(a >= s - 0.005 for a, s in zip(arrivals, slots, strict=True))
    assert arrivals[-1] - slots[-1] <= 0.1


def test_a_busy_provider_gets_the_message_again_later_not_a_failure(
    settings, simulator, balance, monkeypatch
):
    server = simulator(busy_rate=0.5)
    monkeypatch.setattr(messages, "BUSY_BACKOFF", dt.timedelta(milliseconds=50))
    monkeypatch.setattr(messages, "SEND_ATTEMPTS", 1)
    campaign_id = queue_campaign(40)

    for _ in range(60):
        send_due_messages()
        if not Message.objects.filter(campaign_id=campaign_id, status__in=["pending"]).exists():
            break
        threading.Event().wait(0.06)

    statuses = set(Message.objects.filter(campaign_id=campaign_id).values_list("status", flat=True))
    assert statuses == {"sent"}
    assert len({r["to"] for r in server.state.received}) == len(server.state.received) == 40
    assert ledger_balances()


def test_a_dead_workers_messages_go_again_and_the_provider_drops_the_repeat(simulator, balance):
    server = simulator()
    campaign_id = queue_campaign(6)
    send_due_messages(limit=3)  # these three went out...
    # ...but the worker died before recording it: they are still "sending", long claimed.
    sent = list(Message.objects.filter(campaign_id=campaign_id, status="sent"))
    Message.objects.filter(pk__in=[m.pk for m in sent]).update(
        status="sending", claimed_at=timezone.now() - dt.timedelta(minutes=10)
    )

    assert requeue_stale_sending() == 3
    send_due_messages()

    assert Message.objects.filter(campaign_id=campaign_id, status="sent").count() == 6
    assert len(server.state.received) == 6
    assert server.state.repeats == 3


def test_without_provider_dedupe_a_dead_workers_messages_are_not_sent_again(
    settings, simulator, balance
):
    simulator()
    settings.MAILPRO_DEDUPES_REFERENCE = False
    campaign_id = queue_campaign(2)
    Message.objects.filter(campaign_id=campaign_id).update(
        status="sending", claimed_at=timezone.now() - dt.timedelta(minutes=10)
    )
    assert requeue_stale_sending() == 0
