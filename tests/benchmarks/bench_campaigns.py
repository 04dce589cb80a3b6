"""Campaigns at scale: a 100,000-recipient segment.

1. Fan-out: from "send" (``start_campaign``: screen, count and price the audience) to every
   message created and its credits reserved, driven by the campaign heartbeat in this process
   (start: frozen recipients and one reservation; then batches of messages). Target <= 20 s on
   PostgreSQL.
2. Delivery: the simulator (its own process, Mailpro protocol, 20 ms latency) and two
   ``manage.py db_worker`` processes send the campaign; throughput is what the simulator
   received per second between its first and last message. Target >= 1,000 msg/s.

The audience (contacts in one list, and a segment selecting it) is made once and reused; the
campaign, its messages and ledger entries are removed afterwards and the balance restored.
"""

from __future__ import annotations

import time
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from contacts.models import ContactList, Interaction, ListMembership, Segment
from contacts.services.segments import create_segment
from dashboard.actors import Actor
from sms.campaigns.models import Campaign
from sms.campaigns.services.campaigns import run_campaign, start_campaign
from sms.models import CreditAccount, CreditEntry, Message, MessageEvent
from sms.services import credits
from tests.benchmarks.common import BenchContext, Result
from tests.campaigns.fleet import Simulator, Workers, database_url, make_audience

ACTOR = Actor.system("benchmark campaigns")


def _audience(n: int) -> Segment:
    name = f"bench campaigns {n}"
    segment = Segment.objects.filter(name=name).first()
    if segment is not None:
        list_id = segment.rules["all"][0]["value"]
        # Reloading the shared data set (dataset.py) removes every contact, this audience too.
        if ListMembership.objects.filter(list_id=list_id).count() == n:
            return segment
        segment.delete()
        ContactList.objects.filter(pk=list_id).delete()
    contact_list = make_audience(n, name=name)
    return create_segment(
        actor=ACTOR, name=name,
        rules={"all": [{"field": "list", "op": "in", "value": contact_list.pk}]},
    )  # fmt: skip


def _database_url() -> str:
    if connection.vendor == "sqlite":
        return f"sqlite:///{connection.settings_dict['NAME']}"
    return database_url()


def _cleanup(campaign_ids: list[int], balance: Decimal) -> None:
    for cid in campaign_ids:
        ids = list(Message.objects.filter(campaign_id=cid).values_list("id", flat=True))
        for start in range(0, len(ids), 10000):
            chunk = ids[start : start + 10000]
            with transaction.atomic():
                CreditEntry.objects.filter(message_id__in=chunk).delete()
                MessageEvent.objects.filter(message_id__in=chunk).delete()
                Message.objects.filter(id__in=chunk).delete()
        Interaction.objects.filter(data__message_id__isnull=False, actor_label=ACTOR.label).delete()
        CreditEntry.objects.filter(note__startswith=f"Campaign #{cid}:").delete()
        Campaign.objects.filter(pk=cid).delete()
    CreditEntry.objects.filter(Q(note="bench campaigns credit")).delete()
    CreditAccount.objects.filter(pk=credits.ACCOUNT_ID).update(balance=balance)


def run(ctx: BenchContext) -> list[Result]:
    n = 5_000 if ctx.quick else 100_000
    credits.ensure_default_prices()
    credits.ensure_account()
    balance = credits.get_balance()
    segment = _audience(n)
    credits.top_up(actor=ACTOR, amount=Decimal(n), note="bench campaigns credit")
    campaign_ids: list[int] = []
    simulator = Simulator(latency_ms=20)
    # Messages are created for the gateway in settings: the simulator's protocol.
    settings.SMS_GATEWAY, settings.MAILPRO_API_URL = "mailpro", simulator.url
    try:
        # 1. Fan-out, in this process.
        start = time.perf_counter()
        campaign = start_campaign(
            actor=ACTOR, text="Black Friday at noon, {first_name}: 30% off everything",
            audience_kind="segment", audience_id=segment.pk, quiet_hours="",
        ).campaign  # fmt: skip
        campaign_ids.append(campaign.pk)
        scheduled = time.perf_counter() - start
        while campaign.batches_total == 0 or campaign.batches_done < campaign.batches_total:
            run_campaign(campaign_id=campaign.pk)
            campaign.refresh_from_db()
        fan_out = time.perf_counter() - start
        created = Message.objects.filter(campaign_id=campaign.pk).count()
        print(f"fan-out: {created} messages in {fan_out:.1f}s (start_campaign {scheduled:.1f}s)")
        assert created == campaign.recipients == n

        # 2. Delivery by two worker processes.
        workers = Workers(2, simulator, DATABASE_URL=_database_url(), SMS_DISPATCH_BATCH="500",
                          SMS_SEND_CONCURRENCY="64", SMS_SEND_LEASE="300")  # fmt: skip
        try:
            run_campaign(campaign_id=campaign.pk)  # queue the sending tasks
            deadline = time.monotonic() + (120 if ctx.quick else 900)
            while time.monotonic() < deadline:
                campaign.refresh_from_db()
                if campaign.status == "completed":
                    break
                time.sleep(1)
        finally:
            workers.stop()
            received = simulator.received()
        times = [at for _to, _ref, at in received["messages"]]
        span = max(times) - min(times) if len(times) > 1 else float("nan")
        throughput = len(times) / span if span else float("nan")
        print(f"delivery: {len(times)} received in {span:.1f}s; campaign {campaign.status}")
    finally:
        simulator.stop()
        _cleanup(campaign_ids, balance)
    return [
        Result(f"campaign fan-out, {n:,} recipients: send -> all messages created, credits reserved",
               fan_out, "s", "<= 20", note=f"start_campaign (screen + price) {scheduled:.1f}s"),
        Result("campaign delivery to the simulator, 2 workers, 20 ms latency", throughput, "msg/s",
               ">= 1000", note=f"{len(times):,} msgs in {span:.1f}s; campaign {campaign.status}"),
    ]  # fmt: skip
