"""Message history, one message's page (with its live status), and cancelling."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HTMX_STOP_POLLING

from contacts.phones import search_prefixes
from dashboard.actors import Actor
from dashboard.agents.models import AgentPromptVersion
from dashboard.errors import SwitchboardError
from sms.forms import HistoryFilterForm
from sms.models import Message
from sms.services.messages import cancel_message

PAGE_SIZE = 50


def get_message_or_404(message_id: int) -> Message:
    try:
        return Message.objects.select_related("contact").get(pk=message_id)
    except Message.DoesNotExist:
        raise Http404("No such message.") from None


def _filtered(form: HistoryFilterForm) -> QuerySet[Message]:
    qs = Message.objects.select_related("contact").order_by("-created_at", "-id")
    if not form.is_valid():
        return qs
    data = form.cleaned_data
    sender = data["sender"]
    if sender == "campaign":
        qs = qs.filter(campaign_id__isnull=False)
    elif sender:
        qs = qs.filter(actor_kind=sender, campaign_id__isnull=True)
    if data["status"]:
        qs = qs.filter(status=data["status"])
    tz = timezone.get_current_timezone()
    if data["date_from"]:
        qs = qs.filter(created_at__gte=dt.datetime.combine(data["date_from"], dt.time(), tz))
    if data["date_to"]:
        end = dt.datetime.combine(data["date_to"] + dt.timedelta(days=1), dt.time(), tz)
        qs = qs.filter(created_at__lt=end)
    if data["country"]:
        qs = qs.filter(country=data["country"].upper())
    who = data["contact"].strip()
    if who:
        match = Q(contact__email__startswith=who.lower())
        for prefix in search_prefixes(who) if any(ch.isdigit() for ch in who) else []:
            match |= Q(to__startswith=prefix)
        qs = qs.filter(match)
    return qs


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET or None)
    page = Paginator(_filtered(form), PAGE_SIZE).get_page(request.GET.get("page"))
    template = "sms/history.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    return render(request, template, {"form": form, "page": page})


@require_GET
def message_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = get_message_or_404(message_id)
    context = {"message": message, "events": message.events.all()}
    if request.htmx and request.htmx.target == "status":
        response = render(request, "sms/message_detail.html#status", context)
        if message.is_final:
            response.status_code = HTMX_STOP_POLLING  # nothing more will change
        return response
    if message.prompt_version_id:
        # The stored id is the version row's; staff know versions by their number (v3).
        context["prompt_version"] = AgentPromptVersion.objects.filter(
            pk=message.prompt_version_id
        ).first()
    return render(request, "sms/message_detail.html", context)


@require_POST
def message_cancel(request: HttpRequest, message_id: int) -> HttpResponse:
    message = get_message_or_404(message_id)
    try:
        cancel_message(actor=Actor.staff(request.user), message=message)
    except SwitchboardError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "Cancelled; the credits are back.")
    return redirect("sms:message", message_id=message.pk)
