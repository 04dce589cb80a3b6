"""Import pages: list and upload, mapping, the job page with its live progress, actions."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.imports.csvreader import csv_lines, preview
from contacts.imports.forms import MappingForm, UploadForm, posted_mapping
from contacts.imports.models import ImportJob, ImportStatus
from contacts.imports.uploads import refuse_oversized_upload
from contacts.services import imports as import_service
from contacts.services.search import paginate
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error


def _get_job(job_id: int) -> ImportJob:
    return get_object_or_404(ImportJob, pk=job_id)


PAGE_SIZE = 50


def _list_context(form: UploadForm, number: int = 1) -> dict:
    # Newest first, a page at a time (no COUNT: the list only needs "is there more").
    page = paginate(ImportJob.objects.select_related("actor_user"), page=number, size=PAGE_SIZE)
    return {
        "jobs": page.items, "page": page, "form": form,
        "max_mb": settings.IMPORT_MAX_BYTES // 1024 // 1024,
    }  # fmt: skip


@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    try:
        number = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        number = 1
    template = "imports/import_list.html" + ("#results" if request.htmx else "")
    return render(request, template, _list_context(UploadForm(), number))


# The CSRF check reads the form, so the whole body: it runs once the size is known to be fine.
@csrf_exempt
@require_POST
def import_upload(request: HttpRequest) -> HttpResponse:
    # Refused from the declared length, or as soon as the file passes the limit, unread beyond.
    if refusal := refuse_oversized_upload(request, max_bytes=settings.IMPORT_MAX_BYTES):
        form = UploadForm({})
        form.errors["file"] = form.error_class([refusal.message])
        return render(request, "imports/import_list.html", _list_context(form), status=413)
    return _upload(request)


@csrf_protect
def _upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = import_service.upload_import(
                actor=Actor.staff(request.user),
                file=upload,
                file_name=upload.name,
                size=upload.size,
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            return redirect("imports:mapping", job_id=job.pk)
    return render(request, "imports/import_list.html", _list_context(form), status=422)


# The CSRF check reads the form, which for a wide file holds more fields than Django takes in
# one: it runs once the form is read with room for every column.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def import_mapping(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _get_job(job_id)
    if request.method == "POST":
        request.POST = posted_mapping(request, columns=len(job.headers))
    return _mapping(request, job)


@csrf_protect
def _mapping(request: HttpRequest, job: ImportJob) -> HttpResponse:
    if job.status != ImportStatus.DRAFT:
        return redirect("imports:detail", job_id=job.pk)
    initial = {f"col_{i}": target for i, target in job.mapping.items()}
    initial["default_region"] = job.default_region
    form = MappingForm(request.POST or None, headers=job.headers, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            import_service.configure_import(
                actor=Actor.staff(request.user),
                job=job,
                mapping=form.mapping(),
                mode=form.cleaned_data["mode"],
                list_ids=[cl.pk for cl in form.cleaned_data["lists"]],
                tag_names=form.tag_names(),
                default_region=form.cleaned_data["default_region"],
                dry_run=form.cleaned_data["dry_run"],
                webhook_url=form.cleaned_data["webhook_url"],
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            return redirect("imports:detail", job_id=job.pk)
    rows = preview(Path(job.file_path), delimiter=job.delimiter, offset=job.data_offset)
    return render(
        request,
        "imports/import_mapping.html",
        {"job": job, "form": form, "rows": rows},
        status=422 if form.errors else 200,
    )


@require_GET
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _get_job(job_id)
    attempts = list(job.webhook_attempts.all())
    # A resumed job ends (and calls back) again: only this ending's attempts say what is left.
    latest = [a for a in attempts if job.finished_at and a.at >= job.finished_at]
    context = {
        "job": job,
        "stalled": import_service.is_stalled(job),
        "issues": job.issues.all()[:20],
        "attempts": attempts,
        # Deliveries (and their retries) come after the job ends: keep the page up to date.
        "webhook_pending": bool(
            job.webhook_url
            and job.finished_at
            and not job.is_active
            and not any(a.ok for a in latest)
            and len(latest) < settings.IMPORT_WEBHOOK_ATTEMPTS
        ),
    }
    template = "imports/import_detail.html"
    if request.htmx:
        template += "#progress"
    return render(request, template, context)


@require_GET
def import_errors(request: HttpRequest, job_id: int) -> StreamingHttpResponse:
    job = _get_job(job_id)
    response = StreamingHttpResponse(
        csv_lines(import_service.error_report_rows(job)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.csv"'
    return response


@require_POST
def import_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _get_job(job_id)
    try:
        job = import_service.cancel_import(actor=Actor.staff(request.user), job=job)
    except SwitchboardError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            "Import cancelled."
            if job.status == ImportStatus.CANCELLED
            else "Stopping after the current batch.",
        )
    if request.POST.get("next") == "list":
        return redirect("imports:list")
    return redirect("imports:detail", job_id=job.pk)


@require_POST
def import_resume(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _get_job(job_id)
    try:
        import_service.resume_import(actor=Actor.staff(request.user), job=job)
    except SwitchboardError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Import resumed: it continues after the last finished batch.")
    return redirect("imports:detail", job_id=job.pk)


@require_http_methods(["GET", "POST"])
def import_revert(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _get_job(job_id)
    error = ""
    if request.method == "POST":
        # The page's two buttons when contacts were changed since: "yes" reverts them too,
        # "unchanged_only" leaves them as they are.
        choice = request.POST.get("confirm")
        try:
            plan = import_service.request_revert(
                actor=Actor.staff(request.user),
                job=job,
                confirm_conflicts=choice == "yes",
                leave_changed=choice == "unchanged_only",
            )
        except SwitchboardError as exc:
            error = exc.message
            job.refresh_from_db()  # another tab may have started the revert meanwhile
        else:
            if choice == "unchanged_only" and plan.conflict_count:
                messages.success(
                    request,
                    f"Revert started; the {plan.conflict_count} contact(s) changed since are "
                    "left as they are. This page shows when it is done.",
                )
            else:
                messages.success(request, "Revert started; this page shows when it is done.")
            return redirect("imports:detail", job_id=job.pk)
    plan = import_service.revert_preview(job) if job.can_revert else None
    return render(
        request,
        "imports/import_revert.html",
        {"job": job, "plan": plan, "error": error},
        status=422 if error else 200,
    )
