"""Static lists: index with member counts, create, edit, delete."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.forms import ListCreateForm, ListEditForm
from contacts.models import ContactList
from contacts.segments.references import segments_using
from contacts.services import lists as list_service
from contacts.services.dependents import dependents_with_segments
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error


def _list_or_gone(request: HttpRequest, list_id: int) -> ContactList | HttpResponse:
    """The list, or for one deleted since the page was drawn the index saying who deleted it
    (not a bare "Not Found" for a click on a colleague's stale page)."""
    contact_list = ContactList.objects.filter(pk=list_id).first()
    if contact_list is not None:
        return contact_list
    if note := list_service.gone_note(list_id):
        messages.info(request, note)
        return redirect("contacts:lists")
    raise Http404("No such list.")


@require_GET
def list_index(request: HttpRequest) -> HttpResponse:
    lists = ContactList.objects.annotate(members=Count("memberships")).order_by("name")
    form = ListCreateForm(initial={"after_list": list_service.newest_list_id()})
    return render(request, "contacts/list_index.html", {"lists": lists, "form": form})


@require_POST
def list_create(request: HttpRequest) -> HttpResponse:
    form = ListCreateForm(request.POST)
    if form.is_valid():
        try:
            contact_list = list_service.create_list(
                actor=Actor.staff(request.user), **form.cleaned_data
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Created list {contact_list.name}.")
            return redirect("contacts:lists")
    lists = ContactList.objects.annotate(members=Count("memberships")).order_by("name")
    return render(request, "contacts/list_index.html", {"lists": lists, "form": form}, status=422)


@require_http_methods(["GET", "POST"])
def list_edit(request: HttpRequest, list_id: int) -> HttpResponse:
    contact_list = _list_or_gone(request, list_id)
    if isinstance(contact_list, HttpResponse):
        return contact_list
    initial = {
        "name": contact_list.name,
        "limit": contact_list.limit,
        "description": contact_list.description,
        "expected_version": list_service.list_version(contact_list),
    }
    form = ListEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            list_service.update_list(
                actor=Actor.staff(request.user), contact_list=contact_list, **form.cleaned_data
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
            if "version" in exc.details:
                # Seen now: saving again is a deliberate choice to replace the colleague's.
                form.data = form.data.copy()
                form.data["expected_version"] = exc.details["version"]
                contact_list.refresh_from_db()
        else:
            messages.success(request, "List saved.")
            return redirect("contacts:lists")
    segments = segments_using("list", contact_list)
    context = {
        "contact_list": contact_list,
        "form": form,
        "members": contact_list.memberships.count(),
        "segments": segments,
        "dependents": dependents_with_segments("list", contact_list.pk, segments),
    }
    return render(request, "contacts/list_edit.html", context)


@require_POST
def list_delete(request: HttpRequest, list_id: int) -> HttpResponse:
    contact_list = _list_or_gone(request, list_id)
    if isinstance(contact_list, HttpResponse):
        return contact_list
    list_service.delete_list(actor=Actor.staff(request.user), contact_list=contact_list)
    messages.success(request, f"Deleted list {contact_list.name}. Its contacts were kept.")
    return redirect("contacts:lists")
