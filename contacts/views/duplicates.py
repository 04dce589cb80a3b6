"""Probable duplicates: the list, the side-by-side comparison and the merge."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from contacts.models import Contact
from contacts.services import duplicates as duplicate_service
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError


@require_GET
def duplicate_index(request: HttpRequest) -> HttpResponse:
    groups = duplicate_service.find_duplicates()
    return render(request, "contacts/duplicate_index.html", {"groups": groups})


@require_http_methods(["GET", "POST"])
def duplicate_merge(
    request: HttpRequest, survivor_id: uuid.UUID, duplicate_id: uuid.UUID
) -> HttpResponse:
    """Side by side; POST merges the second contact into the first with the chosen values."""
    pair = Contact.objects.in_bulk([survivor_id, duplicate_id])
    if survivor_id not in pair or duplicate_id not in pair:
        raise Http404("One of these contacts no longer exists; it may have been merged already.")
    survivor, duplicate = pair[survivor_id], pair[duplicate_id]
    error = ""
    if request.method == "POST":
        rows = duplicate_service.merge_preview([survivor, duplicate])
        choices = {
            row["key"]: request.POST.get(row["key"], "survivor")
            for row in rows
            if row["values"][0] != row["values"][1]
        }
        try:
            kept = duplicate_service.merge_contacts(
                actor=Actor.staff(request.user),
                survivor=survivor,
                duplicate=duplicate,
                choices=choices,
            )
        except SwitchboardError as exc:
            error = exc.message
        else:
            messages.success(request, f"Merged the duplicate into {kept}.")
            return redirect("contacts:detail", contact_id=kept.pk)
    context = {
        "survivor": survivor,
        "duplicate": duplicate,
        "rows": duplicate_service.merge_preview([survivor, duplicate]),
        "tags": [list(c.tags.order_by("name")) for c in (survivor, duplicate)],
        "lists": [list(c.lists.order_by("name")) for c in (survivor, duplicate)],
        "error": error,
    }
    return render(request, "contacts/duplicate_merge.html", context, status=422 if error else 200)
