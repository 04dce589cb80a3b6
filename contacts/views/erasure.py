"""Erasing a person (GDPR): admin-only, one confirmed button on the contact page."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from contacts.services.erasure import erase_contact, segments_notice
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.permissions import admin_required


@require_POST
@admin_required
def contact_erase(request: HttpRequest, contact_id: uuid.UUID) -> HttpResponse:
    try:
        result = erase_contact(actor=Actor.staff(request.user), contact=contact_id)
    except SwitchboardError as exc:
        messages.error(request, exc.message)
        if exc.code == "already_erased":
            return redirect("contacts:list")
        return redirect("contacts:detail", contact_id=contact_id)
    messages.success(
        request,
        "The contact was erased. Only a salted hash of their email and phone remains, "
        "so they cannot be added again by an agent or an import.",
    )
    if result.segments_changed:
        names = [segment.name for segment in result.segments_changed]
        messages.warning(request, segments_notice(names))
    return redirect("contacts:list")
