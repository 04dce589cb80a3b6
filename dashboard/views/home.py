from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from contacts.models import Contact, ContactList, Tag
from dashboard.models import AuditEntry


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "contact_count": Contact.objects.count(),
        "list_count": ContactList.objects.count(),
        "tag_count": Tag.objects.count(),
        "recent_changes": AuditEntry.objects.select_related(None)[:15],
    }
    return render(request, "dashboard/home.html", context)
