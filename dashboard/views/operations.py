"""Health check for load balancers and monitors, and the background-queue page for staff."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.operations import heartbeat, queue
from dashboard.permissions import admin_required

RECENT = 25


@login_not_required  # monitors call it without a session; it reveals no personal data
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and at least one task worker beat in the last minute."""
    checks: dict[str, dict] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True, "vendor": connection.vendor}
    except DatabaseError as exc:
        checks["database"] = {"ok": False, "error": exc.__class__.__name__}
    if checks["database"]["ok"]:
        live = list(heartbeat.live_workers().values_list("last_seen", flat=True))
        age = (timezone.now() - max(live)).total_seconds() if live else None
        checks["worker"] = {
            "ok": bool(live),
            "live_workers": len(live),
            "last_seen_seconds_ago": age,
        }
        summary = queue.summary()
        checks["queue"] = {
            "ok": True,
            "ready": summary.ready,
            "running": summary.running,
            "failed": summary.failed,
        }
    else:
        checks["worker"] = {"ok": False, "error": "database unavailable"}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy", "checks": checks},
        status=200 if healthy else 503,
    )


@require_GET
def queue_page(request: HttpRequest) -> HttpResponse:
    context = {
        "summary": queue.summary(),
        "workers": heartbeat.live_workers().order_by("hostname", "pid"),
        "failed": DBTaskResult.objects.filter(status=TaskResultStatus.FAILED).order_by(
            "-finished_at"
        )[:RECENT],
        "running": DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).order_by(
            "started_at"
        )[:RECENT],
        "ready": DBTaskResult.objects.filter(status=TaskResultStatus.READY).order_by(
            "run_after", "enqueued_at"
        )[:RECENT],
    }
    template = "dashboard/queue.html#queue" if request.htmx else "dashboard/queue.html"
    return render(request, template, context)


@admin_required
@require_POST
def queue_retry(request: HttpRequest, task_id: str) -> HttpResponse:
    try:
        new_id = queue.retry_failed(actor=Actor.staff(request.user), task_result_id=task_id)
    except SwitchboardError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Queued again as job {new_id[:8]}.")
    return redirect("operations:queue")
