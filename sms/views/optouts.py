"""The STOP list: staff add and remove numbers, each with a reason."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error
from dashboard.models import AuditEntry
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


def _already_removed(request: HttpRequest, optout_id: int) -> HttpResponse:
    """A second click on "Remove", or a colleague's first: a bare "Not Found" read as if the
    removal had failed. Say who took the number off (an erasure leaves no entry)."""
    who = audit.last_changed_by(
        entries=AuditEntry.objects.filter(
            action="sms.opt_in", object_type=OptOut._meta.model_name, object_id=str(optout_id)
        )
    )
    flash.info(request, f"This number was already taken off the STOP list{who}: it may be texted.")
    return redirect("sms:optouts")


@require_POST
def optout_remove(request: HttpRequest, optout_id: int) -> HttpResponse:
    row = OptOut.objects.filter(pk=optout_id).first()
    if row is None:
        return _already_removed(request, optout_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        flash.error(request, "Say why this number may be texted again.")
        return redirect("sms:optouts")
    if not remove_opt_out(actor=Actor.staff(request.user), phone=row.phone, **form.cleaned_data):
        return _already_removed(request, optout_id)
    flash.success(request, f"{row.phone} may be texted again.")
    return redirect("sms:optouts")
