"""Error answers that must make sense on htmx requests as well as on whole pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.csrf import csrf_failure as django_csrf_failure
from django_htmx.http import trigger_client_event

STALE_PAGE = (
    "This page is out of date: its security token expired (you logged in again, perhaps in "
    "another tab). Reload the page and try again."
)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW. htmx does not show a 403, so a click on a page whose token went stale
    seemed to do nothing: say what happened in a toast. Whole pages get templates/403_csrf.html."""
    if getattr(request, "htmx", False):
        response = HttpResponseForbidden(STALE_PAGE, content_type="text/plain; charset=utf-8")
        return trigger_client_event(response, "toast", {"message": STALE_PAGE, "level": "error"})
    return django_csrf_failure(request, reason)
