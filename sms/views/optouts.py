"""The STOP list: staff add and remove numbers, each with a reason."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error
from sms.forms import OptOutForm, ReasonForm
from sms.models import OptOut
from sms.services.optouts import add_opt_out, remove_opt_out, search_opt_outs


@require_http_methods(["GET", "POST"])
def optout_list(request: HttpRequest) -> HttpResponse:
    form = OptOutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            row = add_opt_out(actor=Actor.staff(request.user), **form.cleaned_data)
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            flash.success(request, f"{row.phone} will not be texted.")
            return redirect("sms:optouts")
    query = (request.GET.get("q") or "").strip()[:40]
    page = Paginator(search_opt_outs(query), 50).get_page(request.GET.get("page"))
    return render(request, "sms/optouts.html", {"form": form, "page": page, "query": query})


@require_POST
def optout_remove(request: HttpRequest, optout_id: int) -> HttpResponse:
    row = OptOut.objects.filter(pk=optout_id).first()
    if row is None:
        raise Http404("This number is not on the STOP list.")
    form = ReasonForm(request.POST)
    if not form.is_valid():
        flash.error(request, "Say why this number may be texted again.")
        return redirect("sms:optouts")
    remove_opt_out(actor=Actor.staff(request.user), phone=row.phone, **form.cleaned_data)
    flash.success(request, f"{row.phone} may be texted again.")
    return redirect("sms:optouts")
