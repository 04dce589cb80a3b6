"""Real processes for the crash test and the benchmark: the gateway simulator and task workers
(``manage.py db_worker``) on the test database, plus a large audience made in bulk."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from contacts.models import Contact, ContactList, ListMembership
from contacts.phones import normalise_phone

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_audience(n: int, *, name: str = "Crash test") -> ContactList:
    """``n`` GB mobiles with SMS consent in a new list, written in bulk (phone columns as the
    contacts service sets them)."""
    now = timezone.now()
    tag = uuid.uuid4().hex[:8]
    with transaction.atomic():
        contact_list = ContactList.objects.create(name=f"{name} {tag}")
        for start in range(0, n, 5000):
            contacts = Contact.objects.bulk_create([
                Contact(email=f"c{i}-{tag}@bulk.example", phone=phone.e164, phone_country=phone.region,
                        phone_type=phone.type, first_name=f"C{i}", sms_consent="granted",
                        created_at=now, updated_at=now)
                for i in range(start, min(n, start + 5000))
                for phone in [normalise_phone(f"+4477{i:08d}")]
            ])  # fmt: skip
            ListMembership.objects.bulk_create(
                [ListMembership(list=contact_list, contact=c, added_at=now) for c in contacts]
            )
    return contact_list


def database_url() -> str:
    s = connection.settings_dict
    user = quote(s["USER"] or "") + (f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else "")
    return f"postgres://{user}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Simulator:
    """``manage.py sms_gateway_sim`` in its own process, with what it received on demand."""

    def __init__(self, *, latency_ms: float = 20, busy_rate: float = 0.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", "sms_gateway_sim", "--port", str(self.port),
             "--latency-ms", str(latency_ms), "--busy-rate", str(busy_rate)],
            cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                httpx.get(f"{self.url}/sms/credit/get.json", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the SMS gateway simulator did not start")

    def received(self) -> dict:
        return httpx.get(f"{self.url}/sim/received.json", timeout=30).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Workers:
    """``manage.py db_worker`` processes sending through the simulator; kill -9 and restart."""

    def __init__(self, count: int, simulator: Simulator, **env: str):
        self.env = {
            **os.environ, "DATABASE_URL": database_url(), "SECRET_KEY": settings.SECRET_KEY,
            "SMS_GATEWAY": "mailpro", "MAILPRO_API_URL": simulator.url,
            "MAILPRO_DEDUPES_REFERENCE": "true", "SMS_QUIET_HOURS": "00:00-00:00",
            "SMS_SEND_LEASE": "3", "CAMPAIGN_BATCH_LEASE": "3", "CAMPAIGN_TICK_SECONDS": "0.5",
            "SMS_DISPATCH_BATCH": "200", "SMS_SEND_CONCURRENCY": "32", "DEBUG": "false", **env,
        }  # fmt: skip
        self.processes = [self._spawn() for _ in range(count)]

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", "db_worker", "--interval", "0.1"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def kill_and_restart(self, index: int) -> None:
        os.kill(self.processes[index].pid, signal.SIGKILL)
        self.processes[index].wait(timeout=10)
        self.processes[index] = self._spawn()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
