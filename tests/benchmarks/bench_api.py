"""Agent API throughput: ``POST /api/v1/contacts`` with upsert under gunicorn (2 workers) on
loopback, against a trivial view (``GET /api/v1/ping``) served by the same gunicorn in the same run.

A real gunicorn subprocess (sync workers, as ``make run`` serves the dashboard) and a threaded
httpx load generator with a fixed number of requests. Half the upserts create a contact, half
update one created earlier, so both paths of the pipeline are in the mix. Targets: upsert
throughput at least half the trivial view's, and p95 upsert latency at most 50 ms.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from contacts.models import Contact
from dashboard.actors import Actor
from dashboard.agents.models import Agent
from dashboard.agents.services import create_agent, issue_token
from dashboard.models import AuditEntry
from tests.benchmarks.common import BenchContext, CpuMeter, Result, percentile

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
CLIENTS = 4  # two requests in flight per worker: busy workers, little queueing
REQUESTS = 1000
QUICK_REQUESTS = 300
PREFIX = "bench-api-"
AGENT = "bench-api-agent"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_gunicorn(port: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "dashboard.wsgi", "--workers", str(WORKERS),
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy())  # noqa: S603
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/ping", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def _meter(server: subprocess.Popen) -> CpuMeter:
    """CPU of the gunicorn workers (children of ``server``), PostgreSQL's processes (none on
    SQLite, which runs inside the workers) and this process, the load generator."""
    workers = {int(pid) for pid in _children(server.pid)}
    me = os.getpid()
    return CpuMeter(
        {
            "web": lambda pid, name: pid in workers,
            "database": lambda pid, name: name == "postgres",
            "client": lambda pid, name: pid == me,
        }
    )


def _children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []


def _load(send, count: int) -> tuple[float, list[float], int]:
    """(requests per second, latencies in ms, failures) for ``count`` calls of ``send(i)``."""
    latencies: list[float] = []
    failures = 0

    def one(i: int) -> None:
        nonlocal failures
        start = time.perf_counter()
        try:
            ok = send(i)
        except httpx.HTTPError:
            ok = False
        latencies.append((time.perf_counter() - start) * 1000)
        failures += 0 if ok else 1

    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(count)))
    return count / (time.perf_counter() - start), latencies, failures


def _cleanup() -> None:
    ids = list(Contact.objects.filter(email__startswith=PREFIX).values_list("pk", flat=True))
    AuditEntry.objects.filter(contact_id__in=ids).delete()
    Contact.objects.filter(pk__in=ids).delete()
    Agent.objects.filter(name=AGENT).delete()
    AuditEntry.objects.filter(object_type="agent", object_repr=AGENT).delete()


def run(ctx: BenchContext) -> list[Result]:
    count = QUICK_REQUESTS if ctx.quick else REQUESTS
    _cleanup()
    agent, secret = create_agent(
        actor=Actor.system("bench"), name=AGENT, mode="autonomous",
        scopes=["contacts:read", "contacts:write"], rate_limit_per_minute=10_000_000,
    )  # fmt: skip
    token, _ = issue_token(client_id=agent.client_id, client_secret=secret)
    port = _free_port()
    server = _start_gunicorn(port)
    base = f"http://127.0.0.1:{port}/api/v1"
    distinct = count // 2
    try:
        with httpx.Client(
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=httpx.Limits(max_connections=CLIENTS),
        ) as client:

            def trivial(i: int) -> bool:
                return client.get(f"{base}/ping").status_code == 200

            def upsert(i: int) -> bool:
                body = {
                    "email": f"{PREFIX}{i % distinct}@example.com",
                    "first_name": f"Bench{i}",
                    "tags": ["bench"],
                    "metadata": {"round": i // distinct},
                    "upsert": True,
                }
                return client.post(f"{base}/contacts", json=body).status_code in (200, 201)

            _load(trivial, 50)  # warm both workers
            meter = _meter(server)
            trivial_rate, trivial_ms, _ = _load(trivial, count)
            trivial_cpu = meter.per_call_ms(count)
            meter = _meter(server)
            upsert_rate, upsert_ms, failures = _load(upsert, count)
            upsert_cpu = meter.per_call_ms(count)
    finally:
        server.terminate()
        server.wait(timeout=30)
        _cleanup()

    note = f"gunicorn x{WORKERS} sync, {CLIENTS} client threads, {count} requests"
    cpu_note = "CPU (user + system) per request, read from /proc"
    return [
        Result("api trivial view throughput", trivial_rate, "req/s", note=note),
        Result("api POST /contacts upsert throughput", upsert_rate, "req/s", note=note),
        Result(
            "api upsert / trivial throughput",
            upsert_rate / trivial_rate,
            "ratio",
            ">= 0.5",
            note=note,
        ),
        Result("api POST /contacts upsert p50", statistics.median(upsert_ms), "ms", note=note),
        Result(
            "api POST /contacts upsert p95", percentile(upsert_ms, 95), "ms", "<= 50", note=note
        ),
        Result("api trivial view p95", percentile(trivial_ms, 95), "ms", note=note),
        Result("api upsert failures", failures, "requests", "<= 0", note=note),
        Result("api trivial view CPU: web workers", trivial_cpu["web"], "ms", note=cpu_note),
        Result("api upsert CPU: web workers", upsert_cpu["web"], "ms", note=cpu_note),
        Result("api upsert CPU: database server", upsert_cpu["database"], "ms", note=cpu_note),
        Result("api trivial view CPU: load generator", trivial_cpu["client"], "ms", note=cpu_note),
        Result("api upsert CPU: load generator", upsert_cpu["client"], "ms", note=cpu_note),
    ]
