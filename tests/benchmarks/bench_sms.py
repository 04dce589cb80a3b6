"""SMS sending throughput: single sends one worker pushes through the gateway simulator.

The simulator (``manage.py sms_gateway_sim``, Mailpro protocol) runs as its own process on a
free local port with 50 ms of latency per request, like a real provider. Messages are queued
through the real service (checked, priced, credits reserved), then one worker process runs
``send_due_messages`` as the ``deliver_messages`` task would: it claims batches and sends each
batch from a thread pool over the shared pooled httpx client, then records the outcomes.
Also measured: the queueing rate, and a sequential baseline (one send at a time) that shows
why sending concurrently matters. Everything the benchmark adds is removed again.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from decimal import Decimal

import httpx
from django.conf import settings
from django.db import transaction

from dashboard.actors import Actor
from sms.gateways.base import reset_http_client
from sms.models import CreditAccount, CreditEntry, Message
from sms.services import credits
from sms.services.messages import create_messages, prepare_message, send_due_messages
from tests.benchmarks.common import BenchContext, Result

LATENCY_MS = 50
KEY_PREFIX = "bench-sms-"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_simulator() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "sms_gateway_sim", "--port", str(port),
         "--latency-ms", str(LATENCY_MS)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/sms/credit/get.json", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the SMS gateway simulator did not start")


def _numbers(n: int) -> list[str]:
    # Valid GB mobiles, none ending like the sandbox's failing test numbers.
    return [f"+4474001{i:05d}" for i in range(n) if f"{i:05d}"[-3:] not in {"000", "111", "222"}]


def _queue(numbers: list[str], actor: Actor, tag: str) -> float:
    """Queue one message per number; returns messages per second."""
    start = time.perf_counter()
    for offset in range(0, len(numbers), 500):
        chunk = numbers[offset : offset + 500]
        plans = [
            prepare_message(to=to, text="Your appointment is tomorrow at 10:00.") for to in chunk
        ]
        with transaction.atomic():
            create_messages(
                plans,
                actor=actor,
                keys=[f"{KEY_PREFIX}{tag}-{offset + i}" for i in range(len(chunk))],
            )
    return len(numbers) / (time.perf_counter() - start)


def _cleanup(balance_before: Decimal) -> None:
    with transaction.atomic():
        CreditEntry.objects.filter(note__startswith="bench").delete()
        ids = list(
            Message.objects.filter(idempotency_key__startswith=KEY_PREFIX).values_list(
                "id", flat=True
            )
        )
        CreditEntry.objects.filter(message_id__in=ids).delete()
        for offset in range(0, len(ids), 5000):
            Message.objects.filter(id__in=ids[offset : offset + 5000]).delete()
        CreditAccount.objects.filter(pk=credits.ACCOUNT_ID).update(balance=balance_before)


def run(ctx: BenchContext) -> list[Result]:
    n = 600 if ctx.quick else 3000
    baseline_n = 40 if ctx.quick else 100
    credits.ensure_default_prices()
    credits.ensure_account()
    balance_before = credits.get_balance()
    actor = Actor.system("benchmark")
    process, url = _start_simulator()
    settings.SMS_GATEWAY = "mailpro"
    settings.MAILPRO_API_URL = url
    reset_http_client()
    try:
        credits.top_up(actor=actor, amount=Decimal(n + baseline_n), note="bench credit")
        numbers = _numbers(n + baseline_n)
        queued_per_s = _queue(numbers[:n], actor, "c")

        start = time.perf_counter()
        stats = send_due_messages()
        elapsed = time.perf_counter() - start
        print(f"concurrent: {stats} in {elapsed:.2f}s")
        assert stats.failed == 0, stats.errors

        _queue(numbers[n:], actor, "s")
        settings.SMS_SEND_CONCURRENCY, concurrency = 1, settings.SMS_SEND_CONCURRENCY
        start = time.perf_counter()
        baseline = send_due_messages()
        baseline_elapsed = time.perf_counter() - start
        settings.SMS_SEND_CONCURRENCY = concurrency
    finally:
        process.terminate()
        process.wait(5)
        reset_http_client()
        _cleanup(balance_before)
    note = f"{stats.sent} msgs, {LATENCY_MS} ms latency, {concurrency} concurrent sends"
    return [
        Result("sms single sends per worker (simulator over HTTP)", stats.sent / elapsed, "msg/s",
               ">= 300", note=note),
        Result("sms sequential sends (one at a time, for comparison)", baseline.sent / baseline_elapsed,
               "msg/s", note=f"{baseline.sent} msgs"),
        Result("sms queueing (check, price, reserve credits)", queued_per_s, "msg/s",
               note=f"{n} msgs in batches of 500"),
    ]  # fmt: skip
