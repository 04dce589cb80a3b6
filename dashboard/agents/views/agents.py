"""Agents: the list with this month's usage, create, settings, rotate and revoke credentials."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.db.models import Count, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.actors import Actor
from dashboard.agents.forms import AgentCreateForm, AgentSettingsForm
from dashboard.agents.models import (
    Agent,
    AgentAction,
    ApprovalRequest,
    UsageCounter,
)
from dashboard.agents.pipeline import credits_spent_this_month, requests_this_month, spending
from dashboard.agents.services import (
    active_prompt,
    create_agent,
    revoke,
    rotate_secret,
    settings_version,
    update_agent,
)
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error
from dashboard.permissions import admin_required, is_admin


def get_agent_or_404(agent_id: int) -> Agent:
    try:
        return Agent.objects.get(pk=agent_id)
    except Agent.DoesNotExist:
        raise Http404("No such agent.") from None


def _month_start() -> Any:
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@require_GET
def agent_list(request: HttpRequest) -> HttpResponse:
    agents = list(Agent.objects.all())
    # Three grouped queries for every agent's usage, not three per agent.
    window = "M:" + timezone.now().strftime("%Y-%m")
    requests = dict(UsageCounter.objects.filter(window=window).values_list("agent_id", "count"))
    spent = dict(
        AgentAction.objects.filter(spending(), created_at__gte=_month_start())
        .values("agent_id")
        .annotate(total=Sum("credits"))
        .values_list("agent_id", "total")
    )
    waiting = dict(
        ApprovalRequest.objects.waiting()
        .values("agent_id")
        .annotate(n=Count("id"))
        .values_list("agent_id", "n")
    )
    rows = [
        {"agent": a, "requests": requests.get(a.pk, 0), "spent": spent.get(a.pk) or 0,
         "waiting": waiting.get(a.pk, 0)}
        for a in agents
    ]  # fmt: skip
    return render(request, "agents/agent_list.html", {"rows": rows})


def _secret_page(request: HttpRequest, agent: Agent, secret: str, created: bool) -> HttpResponse:
    response = render(
        request, "agents/secret.html", {"agent": agent, "secret": secret, "created": created}
    )
    response["Cache-Control"] = "no-store"  # the secret is shown once and never cached
    return response


@admin_required
@never_cache
@require_http_methods(["GET", "POST"])
def agent_create(request: HttpRequest) -> HttpResponse:
    form = AgentCreateForm(request.POST or None, initial={"mode": "gated"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            agent, secret = create_agent(
                actor=Actor.staff(request.user),
                name=data["name"],
                description=data["description"],
                scopes=data["scopes"],
                mode=data["mode"],
                rate_limit_per_minute=data["rate_limit_per_minute"],
                monthly_request_cap=data["monthly_request_cap"],
                monthly_sms_budget=data["monthly_sms_budget"],
                prompt=data["prompt"],
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            return _secret_page(request, agent, secret, created=True)
    return render(request, "agents/agent_create.html", {"form": form})


def _settings_form(agent: Agent, data: Any = None) -> AgentSettingsForm:
    initial = {
        "description": agent.description,
        "mode": agent.mode,
        "scopes": agent.scopes,
        "rate_limit_per_minute": agent.rate_limit_per_minute,
        "monthly_request_cap": agent.monthly_request_cap,
        "monthly_sms_budget": agent.monthly_sms_budget,
        "expected_version": settings_version(agent),
    }
    return AgentSettingsForm(data, initial=initial)


def _detail(
    request: HttpRequest, agent: Agent, form: AgentSettingsForm | None = None
) -> HttpResponse:
    context = {
        "agent": agent,
        "form": form or _settings_form(agent),
        "can_admin": is_admin(request.user),
        "requests": requests_this_month(agent),
        "spent": credits_spent_this_month(agent),
        "prompt": active_prompt(agent),
        "waiting": ApprovalRequest.objects.waiting().filter(agent=agent).count(),
        "actions": agent.actions.select_related("prompt_version")[:10],
    }
    return render(request, "agents/agent_detail.html", context)


@require_GET
def agent_detail(request: HttpRequest, agent_id: int) -> HttpResponse:
    return _detail(request, get_agent_or_404(agent_id))


@admin_required
@require_POST
def agent_update(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = get_agent_or_404(agent_id)
    form = _settings_form(agent, request.POST)
    if form.is_valid():
        try:
            update_agent(actor=Actor.staff(request.user), agent=agent, **form.cleaned_data)
        except SwitchboardError as exc:
            add_domain_error(form, exc)
            if "version" in exc.details:
                # Seen now: saving again is a deliberate choice to replace the colleague's.
                form.data = form.data.copy()
                form.data["expected_version"] = exc.details["version"]
        else:
            flash.success(request, f"Saved {agent.name}'s settings.")
            return redirect("agents:detail", agent_id=agent.pk)
    return _detail(request, agent, form)


@admin_required
@never_cache
@require_POST
def agent_rotate(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = get_agent_or_404(agent_id)
    try:
        secret = rotate_secret(actor=Actor.staff(request.user), agent=agent)
    except SwitchboardError as exc:
        flash.error(request, exc.message)
        return redirect("agents:detail", agent_id=agent.pk)
    return _secret_page(request, agent, secret, created=False)


@admin_required
@require_POST
def agent_revoke(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = get_agent_or_404(agent_id)
    revoke(actor=Actor.staff(request.user), agent=agent)
    flash.success(request, f"{agent.name} is switched off; its tokens no longer work.")
    return redirect("agents:detail", agent_id=agent.pk)
