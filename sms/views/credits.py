"""Credits: balance (ours and the provider's), the ledger, prices; top-ups and prices are
admin-only."""

from __future__ import annotations

import logging
import uuid

from django.contrib import messages as flash
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.permissions import admin_required
from sms.forms import PriceForm, TopUpForm
from sms.gateways import get_gateway
from sms.models import CreditEntry, Price
from sms.services import credits

log = logging.getLogger(__name__)


@require_GET
def credits_page(request: HttpRequest) -> HttpResponse:
    ledger = Paginator(CreditEntry.objects.order_by("-created_at", "-id"), 50)
    return render(request, "sms/credits.html", {
        "balance": credits.get_balance(), "ledger": ledger.get_page(request.GET.get("page")),
        "prices": Price.objects.all(), "price_form": PriceForm(),
        # A fresh key per page: a double click on "Add credits" adds once.
        "top_up_form": TopUpForm(initial={"idempotency_key": uuid.uuid4().hex}),
    })  # fmt: skip


@require_GET
def provider_balance(request: HttpRequest) -> HttpResponse:
    """Loaded after the page, so a slow provider never holds it up; cached for a minute."""
    gateway = get_gateway()
    key = f"sms:provider-balance:{gateway.name}"
    context: dict = {"gateway": gateway.name}
    try:
        context["provider"] = cache.get(key) or gateway.balance()
        if context["provider"]:
            cache.set(key, context["provider"], 60)
    except SwitchboardError as exc:
        context["error"] = exc.message
    return render(request, "sms/credits.html#provider", context)


@admin_required
@require_POST
def top_up(request: HttpRequest) -> HttpResponse:
    form = TopUpForm(request.POST)
    if not form.is_valid():
        flash.error(request, "Enter an amount of credits, e.g. 50 or 12.50.")
        return redirect("sms:credits")
    try:
        entry = credits.top_up(actor=Actor.staff(request.user), **form.cleaned_data)
    except SwitchboardError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, f"Added {entry.amount.normalize():f} credits.")
    return redirect("sms:credits")


@admin_required
@require_POST
def price_set(request: HttpRequest) -> HttpResponse:
    form = PriceForm(request.POST)
    if not form.is_valid():
        flash.error(request, "Enter a country code and a price per segment.")
        return redirect("sms:credits")
    try:
        price = credits.set_price(actor=Actor.staff(request.user), **form.cleaned_data)
    except SwitchboardError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(
            request, f"{price.country} now costs {price.per_segment.normalize():f} per segment."
        )
    return redirect("sms:credits")
