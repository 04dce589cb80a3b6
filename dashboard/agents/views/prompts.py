"""Prompt tuning: the editor, versions with their statistics, diff, activate, preview."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.models import Contact
from contacts.services.normalise import normalise_email
from dashboard.actors import Actor
from dashboard.agents.forms import PromptForm
from dashboard.agents.models import Agent, AgentPromptVersion
from dashboard.agents.prompts import (
    activate_version,
    diff_versions,
    get_version,
    render_preview,
    version_stats,
)
from dashboard.agents.services import active_prompt, save_prompt_version
from dashboard.agents.views.agents import get_agent_or_404
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error


def _number(value: str | None) -> int | None:
    # isdecimal, not isdigit: "²" is a digit int() refuses.
    return int(value) if value and value.isdecimal() else None


def _diff_context(versions: list[AgentPromptVersion], a: int | None, b: int | None) -> dict:
    """Compare ``a`` (older) with ``b``; by default the active version with the one before."""
    by_number = {v.number: v for v in versions}
    if b not in by_number:
        active = next((v for v in versions if v.is_active), versions[0] if versions else None)
        b = active.number if active else None
    if a not in by_number:
        a = max((n for n in by_number if b is not None and n < b), default=None)
    if a is None or b is None:
        return {"diff_a": a, "diff_b": b, "diff": None}
    return {"diff_a": a, "diff_b": b, "diff": diff_versions(by_number[a], by_number[b])}


def _page(request: HttpRequest, agent: Agent, form: PromptForm | None = None) -> HttpResponse:
    versions = list(agent.prompt_versions.select_related("author").order_by("-number"))
    start_from = _number(request.GET.get("version"))
    base = next((v for v in versions if v.number == start_from), None) or active_prompt(agent)
    initial = {"text": base.text if base else "", "latest": versions[0].number if versions else 0}
    context = {
        "agent": agent,
        "versions": versions,
        "stats": version_stats(agent),
        "form": form or PromptForm(initial=initial),
        "base": base,
        # What the page shows as active: activating another must not undo a change made since.
        "active_number": next((v.number for v in versions if v.is_active), 0),
        **_diff_context(versions, _number(request.GET.get("a")), _number(request.GET.get("b"))),
    }
    return render(request, "agents/prompt.html", context)


@require_http_methods(["GET", "POST"])
def prompt(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = get_agent_or_404(agent_id)
    if request.method == "GET":
        return _page(request, agent)
    form = PromptForm(request.POST)
    if form.is_valid():
        current = active_prompt(agent)
        if current and current.text == form.cleaned_data["text"]:
            form.add_error(
                "text", "This is the active version's text already; change something first."
            )
        else:
            data = form.cleaned_data
            try:
                version = save_prompt_version(
                    actor=Actor.staff(request.user), agent=agent, text=data["text"],
                    note=data["note"], expected_latest=data["latest"],
                )  # fmt: skip
            except SwitchboardError as exc:
                add_domain_error(form, exc)
                # Seen now: saving again is a deliberate choice to make this text the newest.
                form.data = form.data.copy()
                form.data["latest"] = str(exc.details.get("latest", ""))
            else:
                flash.success(
                    request, f"Saved version {version.number}; agents get it from now on."
                )
                return redirect("agents:prompt", agent_id=agent.pk)
    return _page(request, agent, form)


@require_GET
def prompt_diff(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = get_agent_or_404(agent_id)
    versions = list(agent.prompt_versions.order_by("-number"))
    a, b = _number(request.GET.get("a")), _number(request.GET.get("b"))
    context = {"agent": agent, "versions": versions, **_diff_context(versions, a, b)}
    return render(request, "agents/prompt.html#diff", context)


@require_POST
def prompt_activate(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = get_agent_or_404(agent_id)
    number = _number(request.POST.get("number"))
    try:
        version = activate_version(
            actor=Actor.staff(request.user), agent=agent, number=number or 0,
            expected_active=_number(request.POST.get("active")),
        )  # fmt: skip
    except SwitchboardError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, f"Version {version.number} is active; agents get it from now on.")
    return redirect("agents:prompt", agent_id=agent.pk)


@require_GET
def prompt_preview(request: HttpRequest, agent_id: int) -> HttpResponse:
    """The chosen version rendered with a contact's data (found by email)."""
    agent = get_agent_or_404(agent_id)
    context: dict = {"agent": agent}
    try:
        version = get_version(agent, _number(request.GET.get("version")) or 0)
        who = (request.GET.get("contact") or "").strip()
        contact = None
        if who:
            contact = Contact.objects.filter(email=normalise_email(who)).first()
            if contact is None:
                raise SwitchboardError("unknown_contact", f"No contact has the email {who}.")
        context |= {
            "version": version,
            "contact": contact,
            "preview": render_preview(version, contact),
        }
    except SwitchboardError as exc:
        context["preview_error"] = exc.message
    return render(request, "agents/prompt.html#preview", context)
