"""The approval queue page, its live updates, and the approve / reject / bulk decisions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from contacts.services.erasure import segments_notice
from dashboard.agents import pipeline
from dashboard.agents.models import ApprovalRequest, ApprovalStatus
from dashboard.approvals.forms import ApproveForm, BulkForm, RejectForm
from dashboard.approvals.services import (
    QueueItem,
    decide_many,
    decisions_key,
    latest_decisions_key,
    pending,
    pending_count,
    queue_items,
    recently_decided,
)
from dashboard.errors import SwitchboardError
from dashboard.forms import plain_line_breaks

# The newest requests shown at once; more wait below the fold of any sensible queue.
QUEUE_LIMIT = 50
GONE = {"approval_already_decided", "unknown_approval"}


def _queue_context() -> dict:
    pipeline.expire_stale()
    return {
        "items": queue_items(list(pending()[:QUEUE_LIMIT])),
        "limit": QUEUE_LIMIT,
        "ttl_hours": settings.AGENT_APPROVAL_TTL_HOURS,
    }


def _recent_context() -> dict:
    recent = recently_decided()
    return {"recent": recent, "recent_key": decisions_key(recent)}


def _toast(response: HttpResponse, message: str, level: str) -> HttpResponse:
    return trigger_client_event(response, "toast", {"message": message, "level": level})


@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    template = "approvals/queue.html"
    if request.htmx and request.htmx.target == "queue":
        template += "#queue"
    return render(request, template, _queue_context() | _recent_context())


@require_GET
def poll(request: HttpRequest) -> HttpResponse:
    """New requests to add at the top and decided ones to drop, as out-of-band swaps, so an
    edit in progress on another request is never wiped by a refresh; and "Recently decided"
    again when it changed (anyone's decision, or an expiry)."""
    pipeline.expire_stale()
    shown = {int(v) for v in request.GET.getlist("shown") if v.isdecimal()}
    waiting = list(pending()[:QUEUE_LIMIT])
    waiting_ids = {r.pk for r in waiting}
    top = max(shown, default=0)
    # "Recently decided" is redrawn only when it changed since the page's last poll.
    recent_changed = latest_decisions_key() != request.GET.get("recent")
    context = {
        # Newer than anything shown goes on top (oldest first, so the newest ends up highest);
        # older ones, moving up as others are decided, go at the bottom.
        "newer": queue_items([r for r in reversed(waiting) if r.pk > top]),
        "older": queue_items([r for r in waiting if r.pk < top and r.pk not in shown]),
        "gone": sorted(shown - waiting_ids),
        "count": pending_count(),
        "recent_changed": recent_changed,
        **(_recent_context() if recent_changed else {}),
    }
    return render(request, "approvals/_poll.html", context)


def _decided(request: HttpRequest, message: str, level: str) -> HttpResponse:
    if request.htmx:  # the item swaps itself out
        return _toast(render(request, "approvals/_decided.html", _recent_context()), message, level)
    getattr(flash, level)(request, message)
    return redirect("approvals:queue")


def _outcome_message(decided: ApprovalRequest) -> tuple[str, str]:
    if decided.status == ApprovalStatus.FAILED:
        reason = (decided.result or {}).get("message", "it failed")
        return f"Approved #{decided.pk}, but it did not run: {reason}", "error"
    segments = (decided.result or {}).get("segments_changed")
    if segments:  # an erasure that changed segments' rules: staff should look at them
        notice = segments_notice([segment["name"] for segment in segments])
        return f"Approved #{decided.pk}; it ran. {notice}", "warning"
    return f"Approved #{decided.pk}; it ran.", "success"


@require_POST
def approve(request: HttpRequest, request_id: int) -> HttpResponse:
    item = _pending_item(request, request_id)
    if isinstance(item, HttpResponse):
        return item
    form = ApproveForm(request.POST)
    if not form.is_valid():
        return _item_with_error(request, item, form.errors.as_text(), request.POST.get("text"))
    edited = form.cleaned_data["text"] if item.editable and "text" in request.POST else None
    try:
        decided = pipeline.approve(
            request_id=request_id,
            user=request.user,
            edited_text=edited,
            note=form.cleaned_data["note"],
        )
    except SwitchboardError as exc:
        if exc.code in GONE:
            return _decided(request, exc.message, "error")
        return _item_with_error(request, item, exc.message, edited)
    return _decided(request, *_outcome_message(decided))


@require_POST
def reject(request: HttpRequest, request_id: int) -> HttpResponse:
    item = _pending_item(request, request_id)
    if isinstance(item, HttpResponse):
        return item
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _item_with_error(request, item, form.errors.as_text(), None)
    try:
        pipeline.reject(request_id=request_id, user=request.user, note=form.cleaned_data["note"])
    except SwitchboardError as exc:
        return _decided(request, exc.message, "error")
    return _decided(request, f"Rejected #{request_id}; it will not run.", "success")


def _pending_item(request: HttpRequest, request_id: int) -> QueueItem | HttpResponse:
    """The pending request, or (when someone decided it a moment ago) a response saying so."""
    pipeline.expire_stale()
    waiting = pending().filter(pk=request_id).first()
    if waiting is not None:
        return queue_items([waiting])[0]
    done = ApprovalRequest.objects.filter(pk=request_id).first()
    if done is None:
        raise Http404("No such approval request.")
    return _decided(
        request, f"This request was already {done.get_status_display().lower()}.", "error"
    )


def _item_with_error(
    request: HttpRequest, item: QueueItem, error: str, edited: str | None
) -> HttpResponse:
    if not request.htmx:
        flash.error(request, error)
        return redirect("approvals:queue")
    context = {"item": item, "error": error, "edited": edited}
    return render(request, "approvals/_request.html", context)


@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    if not form.is_valid():
        message, level = " ".join(e for errors in form.errors.values() for e in errors), "error"
    else:
        data = form.cleaned_data
        # Texts edited on the page before "Approve selected" (approvals.js adds them).
        edits = {
            pk: plain_line_breaks(request.POST[f"text-{pk}"])
            for pk in data["ids"]
            if f"text-{pk}" in request.POST
        }
        result = decide_many(
            request_ids=data["ids"],
            user=request.user,
            approve=data["decision"] == "approve",
            note=data["note"],
            edited_texts=edits,
        )
        verb = "Approved" if data["decision"] == "approve" else "Rejected"
        message = f"{verb} {len(result.decided)} request(s)."
        if result.errors:
            message += " " + " ".join(result.errors)
        level = "error" if result.errors else "success"
    if not request.htmx:
        getattr(flash, level)(request, message)
        return redirect("approvals:queue")
    # Only the requests no longer waiting leave the page: the queue is not redrawn, so a text
    # being edited on another request stays as it is.
    asked = form.cleaned_data["ids"] if form.is_valid() else []
    still = set(pending().filter(pk__in=asked).values_list("pk", flat=True))
    context = _recent_context() | {"gone": [pk for pk in dict.fromkeys(asked) if pk not in still]}
    return _toast(render(request, "approvals/_decided.html", context), message, level)
