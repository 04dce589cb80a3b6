"""Undo an agent's action, or everything it changed in a time window: preview, then confirm."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from dashboard.actors import Actor
from dashboard.agents import undo
from dashboard.agents.forms import UndoWindowForm
from dashboard.agents.models import AgentAction
from dashboard.agents.views.agents import get_agent_or_404


def _summary(result: undo.UndoResult) -> tuple[str, str]:
    parts = [
        f"Restored {result.restored} contact(s)",
        f"deleted {result.deleted} the agent created",
    ]
    if result.skipped_conflicts:
        parts.append(f"left {result.skipped_conflicts} changed since by someone else alone")
    if result.gone:
        parts.append(f"{result.gone} no longer exist")
    message = "; ".join(parts) + "."
    if result.failed:
        return message + " Could not undo: " + " ".join(result.failed), "error"
    return message, "success"


@require_http_methods(["GET", "POST"])
def undo_action(request: HttpRequest, action_id: int) -> HttpResponse:
    action = AgentAction.objects.select_related("agent").filter(pk=action_id).first()
    if action is None:
        raise Http404("No such agent action.")
    if request.method == "POST":
        result = undo.undo_action(
            actor=Actor.staff(request.user),
            action=action,
            confirm_conflicts=request.POST.get("confirm_conflicts") == "on",
        )
        message, level = _summary(result)
        getattr(flash, level)(request, message)
        return redirect("activity:feed")
    plan = undo.plan_undo(
        undo.entries_for_action(action), messages=undo.messages_for_action(action)
    )
    context = {"agent": action.agent, "action": action, "plan": plan}
    return render(request, "agents/undo.html", context)


@require_http_methods(["GET", "POST"])
def undo_window(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = get_agent_or_404(agent_id)
    data = request.POST if request.method == "POST" else (request.GET or None)
    # Unbound, the form suggests the last hour, up to the next whole minute (the browser's
    # datetime-local input has no seconds, and the change just made must fall inside).
    end = timezone.localtime().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    form = UndoWindowForm(data, initial={"start": end - dt.timedelta(hours=1), "end": end})
    plan = None
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        if request.method == "POST":
            result = undo.undo_window(
                actor=Actor.staff(request.user),
                agent=agent,
                start=start,
                end=end,
                confirm_conflicts=request.POST.get("confirm_conflicts") == "on",
            )
            message, level = _summary(result)
            getattr(flash, level)(request, message)
            return redirect("agents:detail", agent_id=agent.pk)
        plan = undo.plan_undo(
            undo.entries_in_window(agent, start, end),
            messages=undo.messages_in_window(agent, start, end),
        )
    return render(request, "agents/undo.html", {"agent": agent, "form": form, "plan": plan})
