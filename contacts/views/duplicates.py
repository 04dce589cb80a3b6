"""Probable duplicates: the list, the side by side comparison, the merge, and "not a duplicate"."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from contacts.models import Contact, DismissedDuplicate
from contacts.services import duplicates as duplicate_service
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError

DISMISSED_PAGE_SIZE = 50
PAIR_GONE = "One of these contacts no longer exists: it was merged or erased."


def _pair_or_404(first_id: uuid.UUID, second_id: uuid.UUID) -> tuple[Contact, Contact]:
    pair = Contact.objects.in_bulk([first_id, second_id])
    if first_id not in pair or second_id not in pair:
        raise Http404(PAIR_GONE)
    return pair[first_id], pair[second_id]


@require_GET
def duplicate_index(request: HttpRequest) -> HttpResponse:
    """Suggested pairs, or (``?show=dismissed``) the pairs staff said are different people."""
    if request.GET.get("show") == "dismissed":
        dismissed = DismissedDuplicate.objects.select_related("contact_a", "contact_b")
        page = Paginator(dismissed, DISMISSED_PAGE_SIZE).get_page(request.GET.get("page"))
        context = {"show": "dismissed", "page": page, "dismissed_count": page.paginator.count}
    else:
        context = {
            "show": "suggested",
            "groups": duplicate_service.find_duplicates(),
            "dismissed_count": DismissedDuplicate.objects.count(),
        }
    return render(request, "contacts/duplicate_index.html", context)


def _pair_row(
    request: HttpRequest,
    first: Contact,
    second: Contact,
    *,
    dismissal: DismissedDuplicate | None,
    message: str,
) -> HttpResponse:
    """The pair's table row, now in its other state, for htmx to swap in, with the new count
    of dismissed pairs for the tab; and a toast."""
    context = {
        "first": first,
        "second": second,
        "dismissal": dismissal,
        "dismissed_count": DismissedDuplicate.objects.count(),
    }
    response = render(request, "contacts/duplicate_index.html#pair-update", context)
    return trigger_client_event(response, "toast", {"message": message, "level": "success"})


def pair_action(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A button on a pair of the duplicates page whose contact went (merged or erased) while
    the page was open: an htmx click answered a bare 404 that htmx swaps nowhere, so the click
    did nothing at all. Now it says why, and the row stays as it was."""

    @functools.wraps(view)
    def wrapper(
        request: HttpRequest, first_id: uuid.UUID, second_id: uuid.UUID, **kwargs
    ) -> HttpResponse:
        try:
            return view(request, first_id, second_id, **kwargs)
        except Http404:
            message = PAIR_GONE + " Reload the page to see the pairs as they are now."
            if request.htmx:
                response = HttpResponse(status=404)
                return trigger_client_event(
                    response, "toast", {"message": message, "level": "error"}
                )
            messages.error(request, message)
            return redirect("contacts:duplicates")

    return wrapper


def _refused(request: HttpRequest, exc: SwitchboardError) -> HttpResponse:
    if request.htmx:
        # Nothing to swap: the row stays as it was and the toast says why.
        response = HttpResponse(status=204)
        return trigger_client_event(response, "toast", {"message": exc.message, "level": "error"})
    messages.error(request, exc.message)
    return redirect("contacts:duplicates")


@require_POST
@pair_action
def duplicate_dismiss(
    request: HttpRequest, first_id: uuid.UUID, second_id: uuid.UUID
) -> HttpResponse:
    first, second = _pair_or_404(first_id, second_id)
    try:
        dismissal = duplicate_service.dismiss_duplicate(
            actor=Actor.staff(request.user), contact=first, other=second
        )
    except SwitchboardError as exc:
        return _refused(request, exc)
    message = f"{first} and {second} are not duplicates: they will not be suggested again."
    if not request.htmx:
        messages.success(request, message)
        return redirect("contacts:duplicates")
    return _pair_row(request, first, second, dismissal=dismissal, message=message)


@require_POST
@pair_action
def duplicate_undo_dismiss(
    request: HttpRequest, first_id: uuid.UUID, second_id: uuid.UUID
) -> HttpResponse:
    first, second = _pair_or_404(first_id, second_id)
    try:
        duplicate_service.undo_dismissal(
            actor=Actor.staff(request.user), contact=first, other=second
        )
    except SwitchboardError as exc:
        return _refused(request, exc)
    # Said the same way whether or not someone else undid it first: the outcome is the same.
    message = f"{first} and {second} will be suggested again while they look alike."
    if not request.htmx:
        messages.success(request, message)
        return redirect(reverse("contacts:duplicates") + "?show=dismissed")
    return _pair_row(request, first, second, dismissal=None, message=message)


def _versions(request: HttpRequest) -> tuple[int, int] | None:
    """The contacts' versions the compared values were read at (hidden inputs)."""
    try:
        return int(request.POST["survivor_version"]), int(request.POST["duplicate_version"])
    except (KeyError, ValueError):
        return None


def _merge_gone(
    request: HttpRequest, survivor_id: uuid.UUID, duplicate_id: uuid.UUID
) -> HttpResponse | None:
    """Where a merge (or a comparison) goes when one of the pair no longer exists: a second
    click on "Merge", or "Compare" or "Merge" on a page left open, answered a bare "Not
    Found", as if it had failed."""
    found = set(
        Contact.objects.filter(pk__in=[survivor_id, duplicate_id]).values_list("pk", flat=True)
    )
    if len(found) == 2 or survivor_id == duplicate_id:
        return None
    for gone_id in {survivor_id, duplicate_id} - found:
        if (into := duplicate_service.merged_into(gone_id)) is not None:
            messages.info(
                request, "That contact was already merged: this is the contact it was merged into."
            )
            return redirect("contacts:detail", contact_id=into)
    messages.error(
        request, "One of these contacts no longer exists: it was erased. Nothing was merged."
    )
    return redirect("contacts:duplicates")


@require_http_methods(["GET", "POST"])
def duplicate_merge(
    request: HttpRequest, survivor_id: uuid.UUID, duplicate_id: uuid.UUID
) -> HttpResponse:
    """Side by side; POST merges the second contact into the first with the chosen values."""
    # Also for "Compare" on a duplicates page left open while a colleague merged or erased.
    if gone := _merge_gone(request, survivor_id, duplicate_id):
        return gone
    survivor, duplicate = _pair_or_404(survivor_id, duplicate_id)
    error = ""
    if request.method == "POST":
        rows = duplicate_service.merge_preview([survivor, duplicate])
        choices = {
            row["key"]: request.POST.get(row["key"], row["keep"])
            for row in rows
            if row["values"][0] != row["values"][1]
        }
        try:
            kept = duplicate_service.merge_contacts(
                actor=Actor.staff(request.user),
                survivor=survivor,
                duplicate=duplicate,
                choices=choices,
                expected_versions=_versions(request),
            )
        except SwitchboardError as exc:
            error = exc.message
        else:
            messages.success(request, f"Merged the duplicate into {kept}.")
            return redirect("contacts:detail", contact_id=kept.pk)
    context = {
        "survivor": survivor,
        "duplicate": duplicate,
        "pair": (survivor, duplicate),
        "rows": duplicate_service.merge_preview([survivor, duplicate]),
        "tags": [list(c.tags.order_by("name")) for c in (survivor, duplicate)],
        "lists": [list(c.lists.order_by("name")) for c in (survivor, duplicate)],
        "error": error,
    }
    return render(request, "contacts/duplicate_merge.html", context, status=422 if error else 200)
