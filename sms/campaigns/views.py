"""Campaign pages: the list, the composer with its live estimate, a campaign's page with its
live progress and final report, and the controls (pause, resume, cancel, send again)."""

from __future__ import annotations

import uuid

from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error, valid_fields
from sms.campaigns.forms import CampaignForm
from sms.campaigns.models import ACTIVE, Campaign, CampaignStatus
from sms.campaigns.services import campaigns as service
from sms.campaigns.services import schedule
from sms.campaigns.services.audience import EXCLUSIONS, screen
from sms.campaigns.services.progress import campaign_progress
from sms.models import Message, Status


def campaign_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(Campaign.objects.all(), 25).get_page(request.GET.get("page"))
    ids = [c.pk for c in page.object_list]
    counts: dict[int, dict[str, int]] = {}
    for row in (
        Message.objects.filter(campaign_id__in=ids)
        .values("campaign_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts.setdefault(row["campaign_id"], {})[row["status"]] = row["n"]
    rows = [(c, _summary(counts.get(c.pk, {}))) for c in page.object_list]
    return render(request, "campaigns/campaign_list.html", {"page": page, "rows": rows})


def _summary(by_status: dict[str, int]) -> dict[str, int]:
    return {
        "sent": sum(
            by_status.get(s, 0) for s in [Status.SENT, Status.DELIVERED, Status.UNDELIVERED]
        ),
        "delivered": by_status.get(Status.DELIVERED, 0),
        "failed": by_status.get(Status.FAILED, 0) + by_status.get(Status.UNDELIVERED, 0),
    }


def _compose(request: HttpRequest, form: CampaignForm, campaign: Campaign | None) -> HttpResponse:
    return render(request, "campaigns/compose.html", {
        "form": form, "campaign": campaign, "idempotency_key": uuid.uuid4().hex,
    })  # fmt: skip


@require_http_methods(["GET", "POST"])
def campaign_new(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, initial=_initial_audience(request))
    if request.method == "POST" and form.is_valid():
        try:
            outcome = service.start_campaign(
                actor=Actor.staff(request.user), **form.service_kwargs(),
                idempotency_key=form.cleaned_data.get("idempotency_key") or None,
            )  # fmt: skip
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            campaign = outcome.campaign
            typed = None if outcome.replayed else form.cleaned_data.get("send_at")
            flash.success(request, schedule.start_text(campaign, typed))
            return redirect("campaigns:detail", campaign_id=campaign.pk)
    return _compose(request, form, None)


def _initial_audience(request: HttpRequest) -> dict:
    for kind in ("segment", "list", "tag"):
        if request.GET.get(kind, "").isdigit():
            return {"audience": f"{kind}:{request.GET[kind]}"}
    return {}


@require_POST
def campaign_estimate(request: HttpRequest) -> HttpResponse:
    """The composer's live estimate: counts, exclusions, samples, cost and balance."""
    form = CampaignForm(request.POST)
    context: dict = {}
    # Who gets it and what it costs depend on these alone: a half-typed date or time zone
    # elsewhere in the form must not blank the estimate.
    data = valid_fields(form)
    if all(name in data for name in ("audience", "text", "kind")):
        audience_kind, audience_id = data["audience"]
        try:
            context["screening"] = screen(
                kind=data["kind"], audience_kind=audience_kind, audience_id=audience_id,
                text=data["text"],
            )  # fmt: skip
        except SwitchboardError as exc:
            context["problem"] = exc.message
    else:
        context["problem"] = (
            "Choose an audience and write the message to see who gets it and what it costs."
        )
    return render(request, "campaigns/compose.html#estimate", context)


FINAL_FAILURES = [Status.FAILED, Status.UNDELIVERED]


def _report(campaign: Campaign) -> dict:
    messages = Message.objects.filter(campaign_id=campaign.pk)
    # Of the messages whose outcome is known, as the delivery report counts them: one sent
    # and awaiting the provider's report is not (yet) undelivered.
    finished = messages.filter(status__in=[Status.DELIVERED, *FINAL_FAILURES]).count()
    awaiting = messages.filter(status=Status.SENT).count()
    delivered = messages.filter(status=Status.DELIVERED).count()
    failures = list(
        messages.filter(status__in=FINAL_FAILURES)
        .values("error_code")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    costs = list(
        messages.exclude(status__in=[Status.FAILED, Status.CANCELLED])
        .values("country")
        .annotate(n=Count("id"), cost=Sum("price"))
        .order_by("-cost")
    )
    return {
        "delivery_rate": round(100 * delivered / finished, 1) if finished else None,
        "awaiting": awaiting,
        "failures": failures, "costs": costs, "total": sum((c["cost"] for c in costs), 0),
        "any_failed": bool(failures),
    }  # fmt: skip


def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if campaign.status in ACTIVE or campaign.status == CampaignStatus.SCHEDULED:
        service.kick_overdue()
    if request.htmx and request.GET.get("shown", campaign.status) != campaign.status:
        # The buttons and the report belong to the status the page was drawn for: when it
        # moves on (started, paused, finished), draw the page again (a finished one stops polling).
        return HttpResponseClientRefresh()
    context = {"campaign": campaign, "progress": campaign_progress(campaign)}
    if request.htmx:
        return render(request, "campaigns/campaign_detail.html#progress", context)
    context["report"] = _report(campaign)
    context["left_out"] = [
        (EXCLUSIONS.get(code, code.replace("_", " ")), n)
        for code, n in (campaign.excluded or {}).items()
        if code != "problem"
    ]
    context["audience_problem"] = service.audience_problem(campaign)
    context["resend_key"] = uuid.uuid4().hex  # a second click on "send again" sends once
    return render(request, "campaigns/campaign_detail.html", context)


@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if not campaign.is_editable:
        flash.error(request, "Only a scheduled campaign can be changed.")
        return redirect("campaigns:detail", campaign_id=campaign.pk)
    initial = {
        "name": campaign.name, "audience": f"{campaign.audience_kind}:{campaign.audience_id}",
        "text": campaign.text, "kind": campaign.kind, "schedule_mode": campaign.schedule_mode,
        "send_at": schedule.scheduled_wall_clock(campaign), "time_zone": campaign.time_zone,
        "quiet_hours": schedule.quiet_hours_text(campaign),
    }  # fmt: skip
    form = CampaignForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        kwargs = form.service_kwargs()
        try:
            campaign = service.update_campaign(
                actor=Actor.staff(request.user), campaign=campaign, **kwargs
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            typed = form.cleaned_data.get("send_at")
            flash.success(request, f"Saved. {schedule.start_text(campaign, typed)}")
            return redirect("campaigns:detail", campaign_id=campaign.pk)
    return _compose(request, form, campaign)


def _control(action):
    @require_POST
    def view(request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        try:
            result = action(request, campaign)
        except SwitchboardError as exc:
            flash.error(request, exc.message)
            return redirect("campaigns:detail", campaign_id=campaign.pk)
        return redirect("campaigns:detail", campaign_id=result.pk)

    view.__name__ = action.__name__
    return view


@_control
def campaign_pause(request: HttpRequest, campaign: Campaign) -> Campaign:
    campaign = service.pause_campaign(actor=Actor.staff(request.user), campaign=campaign)
    flash.success(request, "Paused: messages not yet with the provider are held.")
    return campaign


@_control
def campaign_resume(request: HttpRequest, campaign: Campaign) -> Campaign:
    campaign = service.resume_campaign(actor=Actor.staff(request.user), campaign=campaign)
    flash.success(request, "Resumed.")
    return campaign


@_control
def campaign_cancel(request: HttpRequest, campaign: Campaign) -> Campaign:
    campaign = service.cancel_campaign(actor=Actor.staff(request.user), campaign=campaign)
    flash.success(request, "Cancelled; unspent credits are back in the balance.")
    return campaign


@_control
def campaign_resend(request: HttpRequest, campaign: Campaign) -> Campaign:
    outcome = service.resend_failed(
        actor=Actor.staff(request.user), campaign=campaign,
        idempotency_key=request.POST.get("idempotency_key") or None,
    )  # fmt: skip
    flash.success(request, f"Sending again to {outcome.campaign.recipients} recipients.")
    return outcome.campaign
