"""A 10,000-recipient campaign survives workers killed at random moments: every recipient gets
exactly one message at the gateway simulator, the ledger balances and the campaign completes.

Real processes: the simulator (Mailpro protocol over HTTP, 20 ms latency) and two
``manage.py db_worker`` workers on the PostgreSQL test database; one of them is killed with
SIGKILL five times and restarted. Runs on PostgreSQL only: SQLite's in-memory test database
cannot be shared with other processes.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from dashboard.actors import Actor
from sms.campaigns.services.campaigns import kick_overdue, start_campaign
from sms.models import Message
from sms.services import credits

from .fleet import Simulator, Workers, make_audience

RECIPIENTS = 10_000
KILLS = 5

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="worker processes need a database they can share: run on PostgreSQL",
    ),
]


def test_killed_workers_neither_lose_nor_double_a_message():
    credits.ensure_default_prices()
    credits.top_up(actor=Actor.system("tests"), amount=Decimal("1000"))
    audience = make_audience(RECIPIENTS)
    simulator = Simulator(latency_ms=20)
    workers = Workers(2, simulator)
    try:
        campaign = start_campaign(
            actor=Actor.system("tests"), text="Black Friday: 30% off until midnight, {first_name}",
            audience_kind="list", audience_id=audience.pk, quiet_hours="",
        ).campaign  # fmt: skip
        rng = random.Random()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, 3.0))
            workers.kill_and_restart(rng.randrange(2))
        # Generous: the point is that nothing is lost or doubled, not how fast (that is
        # benchmarked); on a loaded two-core machine the 10,000 messages take over two minutes.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            campaign.refresh_from_db()
            if campaign.status == "completed":
                break
            kick_overdue()  # what the open campaign page does while it polls
            time.sleep(0.5)
    finally:
        workers.stop()
        received = simulator.received()
        simulator.stop()

    assert campaign.status == "completed"
    per_number = Counter(to for to, _ref, _at in received["messages"])
    assert len(per_number) == RECIPIENTS
    assert set(per_number.values()) == {1}
    messages = Message.objects.filter(campaign_id=campaign.pk)
    assert messages.count() == RECIPIENTS
    assert set(messages.values_list("status", flat=True)) == {"sent"}
    assert credits.ledger_total() == credits.get_balance()
    assert credits.get_balance() == Decimal("1000") - campaign.cost
