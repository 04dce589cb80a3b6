"""Phone lookup: type, region and time zones of any number."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error
from sms.forms import LookupForm
from sms.services.lookup import lookup_number
from sms.services.optouts import opt_out_for


@require_GET
def lookup(request: HttpRequest) -> HttpResponse:
    form = LookupForm(request.GET or None)
    info = opt_out = None
    if form.is_valid():
        try:
            info = lookup_number(form.cleaned_data["number"])
        except SwitchboardError as exc:
            exc.field = "number"
            add_domain_error(form, exc)
        else:
            opt_out = opt_out_for(info.e164) if info else None
    template = "sms/lookup.html"
    if request.htmx and request.htmx.target == "result":
        template += "#result"
    return render(request, template, {"form": form, "info": info, "opt_out": opt_out})
