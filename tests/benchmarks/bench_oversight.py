"""Approval queue costs: the navigation badge's COUNT (run on every staff page) with many
decided requests behind it, and rendering the queue / answering its poll (which also reads the
latest decisions) with 100 waiting.

Requests are created directly (the agent's dry run is not what is measured); a set of decided
requests sits beside them so the COUNT has rows to skip. Everything added is removed again.
"""

from __future__ import annotations

import datetime as dt

from django.template.loader import render_to_string
from django.utils import timezone

from dashboard.agents.models import Agent, AgentAction, ApprovalRequest, ApprovalStatus
from dashboard.agents.pipeline import expire_stale
from dashboard.approvals.services import (
    decisions_key,
    latest_decisions_key,
    pending,
    pending_count,
    queue_items,
    recently_decided,
)
from dashboard.approvals.views import QUEUE_LIMIT
from tests.benchmarks.common import BenchContext, Result, latency_results, time_calls

AGENT = "bench-oversight"


def _seed(waiting: int, decided: int) -> Agent:
    agent = Agent.objects.create(name=AGENT, client_id="agt_bench_oversight", secret_hash="-")
    now = timezone.now()
    payload = {"contact_id": None, "to": "+447400123456", "message": "Your parcel arrives today."}

    def requests(n: int, status: str) -> list[ApprovalRequest]:
        actions = AgentAction.objects.bulk_create(
            AgentAction(agent=agent, action="send_sms", mode="gated", payload=payload,
                        response_body={"preview": {"segments": 1, "price": "0.04"}})
            for _ in range(n)
        )  # fmt: skip
        decided_at = None if status == ApprovalStatus.PENDING else now
        return [
            ApprovalRequest(agent=agent, agent_action=a, action="send_sms", payload=payload,
                            status=status, expires_at=now + dt.timedelta(hours=24),
                            decided_at=decided_at)
            for a in actions
        ]  # fmt: skip

    for start in range(0, decided, 5000):
        ApprovalRequest.objects.bulk_create(
            requests(min(5000, decided - start), ApprovalStatus.EXECUTED)
        )
    ApprovalRequest.objects.bulk_create(requests(waiting, ApprovalStatus.PENDING))
    return agent


def run(ctx: BenchContext) -> list[Result]:
    waiting, decided = 100, (2_000 if ctx.quick else 50_000)
    Agent.objects.filter(name=AGENT).delete()
    agent = _seed(waiting, decided)
    try:
        assert pending_count() >= waiting
        badge = time_calls(pending_count, 200)

        def page() -> str:
            items = queue_items(list(pending()[:QUEUE_LIMIT]))
            context = {
                "items": items,
                "limit": QUEUE_LIMIT,
                "nav_pending_approvals": pending_count(),
            }
            return render_to_string("approvals/queue.html#queue", context)

        shown = set(pending().values_list("pk", flat=True)[:QUEUE_LIMIT])
        recent_key = decisions_key(recently_decided())

        def poll() -> str:  # what the view does when the page already shows every request
            expire_stale()
            new = queue_items([r for r in pending()[:QUEUE_LIMIT] if r.pk not in shown])
            return render_to_string("approvals/_poll.html", {
                "newer": new, "gone": [], "count": pending_count(),
                "recent_changed": latest_decisions_key() != recent_key,
            })  # fmt: skip

        page_samples = time_calls(page, 30)
        poll_samples = time_calls(poll, 100)
    finally:
        agent.delete()  # cascades to its actions and requests
    note = f"{waiting} waiting, {decided} decided"
    results = [
        *latency_results("nav approvals badge COUNT", badge, target_p95=5),
        *latency_results("approval queue render (newest 50 of 100)", page_samples, target_p95=250),
        *latency_results("approval queue poll, nothing new", poll_samples, target_p95=50),
    ]
    for result in results:
        result.note = note
    return results
