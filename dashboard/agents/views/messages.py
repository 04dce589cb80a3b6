"""The texts agents sent, with the agent, the prompt version and how staff decided."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.agents.models import Agent, AgentPromptVersion, ApprovalRequest
from dashboard.forms import valid_fields
from sms.models import Message, Status

PAGE_SIZE = 50


class AgentMessagesFilter(forms.Form):
    agent = forms.ModelChoiceField(
        Agent.objects.all(), required=False, empty_label="Any agent", label="Agent"
    )
    version = forms.ModelChoiceField(
        # Every version of every agent is an option: their texts (up to 50,000 characters each)
        # are not needed to list them.
        AgentPromptVersion.objects.select_related("agent")
        .defer("text")
        .order_by("agent__name", "-number"),
        required=False,
        empty_label="Any prompt version",
        label="Prompt version",
    )
    status = forms.ChoiceField(
        choices=[("", "Any status"), *Status.choices], required=False, label="Status"
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The selects stand without visible labels: name them for screen readers.
        for field in self.fields.values():
            field.widget.attrs["aria-label"] = field.label
        # Named as staff know them ("courier · v3"), not by the agent's row id.
        self.fields["version"].label_from_instance = lambda v: f"{v.agent.name} · v{v.number}"


@require_GET
def agent_messages(request: HttpRequest) -> HttpResponse:
    form = AgentMessagesFilter(request.GET or None)
    qs = Message.objects.filter(actor_kind="agent").select_related("contact")
    # The filters that are valid still apply: a stale link (an agent or version deleted since)
    # must not silently widen the review to every agent's texts. The page names the one left out.
    data = valid_fields(form)
    if data.get("agent"):
        qs = qs.filter(actor_ref=str(data["agent"].pk))
    if data.get("version"):
        qs = qs.filter(prompt_version_id=data["version"].pk)
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    page = Paginator(qs.order_by("-created_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    # One query each for the page's prompt versions and approvals, not one per message.
    versions = AgentPromptVersion.objects.in_bulk({m.prompt_version_id for m in rows} - {None})
    approvals = {
        a.result.get("id"): a
        for a in ApprovalRequest.objects.filter(
            action="send_sms", result__id__in=[m.pk for m in rows]
        ).select_related("decided_by")
    }
    # A campaign's texts were approved as the campaign (its request's result is the campaign).
    campaign_ids = list({m.campaign_id for m in rows} - {None})
    campaign_approvals = (
        {
            a.result.get("id"): a
            for a in ApprovalRequest.objects.filter(
                action="start_campaign", result__id__in=campaign_ids
            ).select_related("decided_by")
        }
        if campaign_ids
        else {}
    )
    for m in rows:
        m.version = versions.get(m.prompt_version_id)
        m.approval = campaign_approvals.get(m.campaign_id) if m.campaign_id else approvals.get(m.pk)
    template = "agents/messages.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    return render(request, template, {"form": form, "page": page, "rows": rows})
