"""Custom field definitions: index with value counts, create, rename, delete."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.forms import FieldForm, FieldRenameForm
from contacts.models import Field
from contacts.segments.references import segments_using
from contacts.services import fields as field_service
from contacts.services.dependents import dependents_with_segments
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error


def _index(request: HttpRequest, form: FieldForm, status: int = 200) -> HttpResponse:
    fields = Field.objects.annotate(members=Count("values")).order_by("name")
    return render(
        request, "contacts/field_index.html", {"fields": fields, "form": form}, status=status
    )


@require_GET
def field_index(request: HttpRequest) -> HttpResponse:
    return _index(request, FieldForm())


@require_POST
def field_create(request: HttpRequest) -> HttpResponse:
    form = FieldForm(request.POST)
    if form.is_valid():
        try:
            field = field_service.create_field(actor=Actor.staff(request.user), **form.cleaned_data)
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Created field {field.name}.")
            return redirect("contacts:fields")
    return _index(request, form, status=422)


@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, field_id: int) -> HttpResponse:
    field = get_object_or_404(Field, pk=field_id)
    form = FieldRenameForm(request.POST or None, initial={"name": field.name})
    if request.method == "POST" and form.is_valid():
        try:
            field_service.rename_field(
                actor=Actor.staff(request.user), field=field, name=form.cleaned_data["name"]
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, "Field renamed.")
            return redirect("contacts:fields")
    segments = segments_using("field", field)
    context = {
        "field": field,
        "form": form,
        "members": field.values.count(),
        "segments": segments,
        # Campaigns are sent to segments, never to a field: those of the segments naming it.
        "dependents": dependents_with_segments("field", field.pk, segments),
    }
    return render(request, "contacts/field_edit.html", context)


@require_POST
def field_delete(request: HttpRequest, field_id: int) -> HttpResponse:
    field = get_object_or_404(Field, pk=field_id)
    field_service.delete_field(actor=Actor.staff(request.user), field=field)
    messages.success(request, f"Deleted field {field.name} and its values.")
    return redirect("contacts:fields")
