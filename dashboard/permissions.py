"""Who may see what: every page needs a logged-in member of the staff (or admin) group.

One middleware enforces it for every view, so a new page cannot forget; views that must be
public (login, health checks, signed embeds, agent API with its own tokens) opt out with
Django's ``@login_not_required``. Admin-only actions add ``@admin_required``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import LogoutView, redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


def _group_names(user: Any) -> set[str]:
    if not hasattr(user, "_switchboard_groups"):
        user._switchboard_groups = set(user.groups.values_list("name", flat=True))
    return user._switchboard_groups


def is_staff_member(user: Any) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or bool(
        _group_names(user) & {settings.STAFF_GROUP, settings.ADMIN_GROUP}
    )


def is_admin(user: Any) -> bool:
    return (
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or settings.ADMIN_GROUP in _group_names(user))
    )


class StaffRequiredMiddleware(LoginRequiredMiddleware):
    """Anonymous users go to the login page; logged-in non-staff get 403."""

    def process_view(
        self, request: HttpRequest, view_func: Callable, view_args: Any, view_kwargs: Any
    ):
        response = super().process_view(request, view_func, view_args, view_kwargs)
        if response is not None or not getattr(view_func, "login_required", True):
            return response
        if getattr(view_func, "view_class", None) is LogoutView:
            return None  # anyone logged in may log out, to log in as someone in the team
        if not is_staff_member(request.user):
            raise PermissionDenied("Switchboard is for the operations team (staff group).")
        return None

    def handle_no_permission(self, request: HttpRequest, view_func: Callable) -> HttpResponse:
        if not request.htmx:  # type: ignore[attr-defined]
            return super().handle_no_permission(request, view_func)
        # A partial (a poll, a search, a form section) asked for after the session ended: a
        # redirect would be followed by htmx and the login page swapped into the table.
        # Send the whole page to log in, and back to that page afterwards.
        login_url = resolve_url(self.get_login_url(view_func))
        # None when the page is on another site: then no way back, just the login page.
        page = request.htmx.current_url_abs_path  # type: ignore[attr-defined]
        if page:
            field = self.get_redirect_field_name(view_func)
            login_url = redirect_to_login(page, login_url, field)["Location"]
        return HttpResponseClientRedirect(login_url)


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_admin(request.user):
            raise PermissionDenied("Only admins can do this.")
        return view(request, *args, **kwargs)

    # Read by the permission-matrix test; functools.wraps carries it through outer decorators.
    wrapper.admin_only = True  # type: ignore[attr-defined]
    return wrapper
