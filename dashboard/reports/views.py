"""Report pages, their CSV tables, embed-link management and the public signed embed."""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_POST

from contacts.services.exports import safe_cell
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error
from dashboard.reports import embeds
from dashboard.reports.forms import EmbedLinkForm, PeriodForm
from dashboard.reports.models import EmbedLink
from dashboard.reports.queries import REPORTS, Period, Report


def _build(key: str, period: Period, *, embed: bool = False) -> Report:
    if key not in REPORTS:
        raise Http404("No such report.")
    return REPORTS[key][1](period, embed=embed)


def _period_form(request: HttpRequest) -> PeriodForm:
    return PeriodForm(request.GET or {"days": 30, "grouping": "day"})


@require_GET
def report_index(request: HttpRequest) -> HttpResponse:
    return render(
        request, "reports/index.html", {"reports": [(k, t) for k, (t, _) in REPORTS.items()]}
    )


@require_GET
def report_detail(request: HttpRequest, key: str) -> HttpResponse:
    if key not in REPORTS:
        raise Http404("No such report.")
    form = _period_form(request)
    period = form.period() if form.is_valid() else None
    report = _build(key, period) if period else None
    context = {"key": key, "title": REPORTS[key][0], "form": form, "report": report,
               "period": period, "embed_form": EmbedLinkForm(),
               "query": request.GET.urlencode()}  # fmt: skip
    if request.htmx:
        # htmx swaps no 4xx answer: a 400 would leave the previous period's figures on screen
        # as if the new dates applied, and the error unseen.
        return render(request, "reports/detail.html#body", context)
    return render(request, "reports/detail.html", context, status=200 if report else 400)


@require_GET
def report_csv(request: HttpRequest, key: str, table: int) -> HttpResponse:
    form = _period_form(request)
    if not form.is_valid():
        # Field errors too (a grouping or date that is not one): an empty 400 explains nothing.
        problems = [e for errors in form.errors.values() for e in errors]
        return HttpResponse(" ".join(problems), status=400, content_type="text/plain")
    report = _build(key, form.period())
    if not 0 <= table < len(report.tables):
        raise Http404("No such table.")
    data = report.tables[table]
    period = form.period()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"{key}-{data.title.lower().replace(' ', '-')}-{period.start}-{period.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    # The byte order mark tells Excel the file is UTF-8 (as the contact export does): without
    # it "courier · v3" or a campaign called "Café" opens garbled.
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(data.columns)
    for row in data.rows:
        writer.writerow(
            [safe_cell(v) if isinstance(v, str) else ("" if v is None else v) for v in row]
        )
    return response


@require_GET
def embed_links(request: HttpRequest) -> HttpResponse:
    links = EmbedLink.objects.select_related("created_by", "revoked_by")
    rows = [
        (
            link,
            REPORTS.get(link.report, (link.report,))[0],
            request.build_absolute_uri(reverse("embed", args=[embeds.token_for(link)])),
        )
        for link in links
    ]
    context = {"links": rows, "frame_ancestors": settings.EMBED_FRAME_ANCESTORS}
    return render(request, "reports/embed_links.html", context)


@require_POST
def embed_create(request: HttpRequest, key: str) -> HttpResponse:
    form = EmbedLinkForm(request.POST)
    if form.is_valid():
        try:
            link = embeds.create_embed_link(
                actor=Actor.staff(request.user),
                report=key,
                created_by=request.user,
                **form.cleaned_data,
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Embed link created for “{link.label}”.")
            return redirect("reports:embeds")
    messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("reports:detail", key=key)


@require_POST
def embed_revoke(request: HttpRequest, link_id: int) -> HttpResponse:
    link = get_object_or_404(EmbedLink, pk=link_id)
    try:
        embeds.revoke_embed_link(
            actor=Actor.staff(request.user), link=link, revoked_by=request.user
        )
    except SwitchboardError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Revoked the embed link “{link.label}”: it stops working now.")
    return redirect("reports:embeds")


def _frame_ancestors() -> list[str]:
    return list(settings.EMBED_FRAME_ANCESTORS) or ["'none'"]


@login_not_required  # the signed token is the credential; it shows aggregates only
@xframe_options_exempt  # CSP frame-ancestors (below) decides who may frame it
@require_GET
def embed(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = embeds.resolve(token)
    except SwitchboardError as exc:
        response = render(
            request,
            "reports/embed_unavailable.html",
            {"message": exc.message},
            status=410 if exc.code != "embed_invalid" else 404,
        )
    else:
        period = PeriodForm({"days": link.days, "grouping": link.grouping})
        period.is_valid()
        report = _build(link.report, period.period(), embed=True)
        response = render(
            request,
            "reports/embed.html",
            {"report": report, "link": link, "period": period.period()},
        )
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    # Replace (not extend) the site-wide frame-ancestors 'none' with the allowed origins.
    response._csp_replace = {"frame-ancestors": _frame_ancestors()}
    return response
