from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from dashboard.approvals.services import pending_count
from dashboard.permissions import is_admin, is_staff_member

# (label, URL name, first path segment). A section whose URL name does not resolve yet is shown
# greyed out, so the navigation already tells staff where things will be.
SECTIONS = [
    ("Contacts", "contacts:list", "contacts"),
    ("Lists", "contacts:lists", "lists"),
    ("Tags", "contacts:tags", "tags"),
    ("Fields", "contacts:fields", "fields"),
    ("Segments", "contacts:segments", "segments"),
    ("Imports", "imports:list", "imports"),
    ("SMS", "sms:history", "sms"),
    ("Campaigns", "campaigns:list", "campaigns"),
    ("Approvals", "approvals:queue", "approvals"),
    ("Agents", "agents:list", "agents"),
    ("Reports", "reports:index", "reports"),
    ("Jobs", "operations:queue", "operations"),
]


def _sections() -> list[dict[str, Any]]:
    sections = []
    for label, url_name, segment in SECTIONS:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            url = None
        sections.append({"label": label, "url": url, "segment": segment})
    return sections


def navigation(request: HttpRequest) -> dict[str, Any]:
    """What the navigation bar needs on every page.

    Lazy, and read at most once per response: htmx partials and polls render no navigation,
    so they must not pay for its look-ups (the pending approvals COUNT above all).
    """
    user = getattr(request, "user", None)
    if user is None or not is_staff_member(user):
        return {}  # an outsider's 403 page shows no sections, and no count of what waits
    return {
        "nav_sections": SimpleLazyObject(_sections),
        "nav_current": request.path.strip("/").split("/", 1)[0],
        "user_is_admin": SimpleLazyObject(lambda: is_admin(user)),
        "user_is_staff": SimpleLazyObject(lambda: is_staff_member(user)),
        "nav_pending_approvals": SimpleLazyObject(pending_count),
    }
