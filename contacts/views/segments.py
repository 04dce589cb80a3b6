"""Segments: the list with live counts, the builder, a segment's members, snapshots."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from contacts.models import Consent, Segment
from contacts.segments.builder import (
    Catalogue,
    Node,
    apply_action,
    rules_from_tree,
    tree_from_form,
    tree_from_rules,
)
from contacts.segments.rules import compile_rules
from contacts.services import lists as list_service
from contacts.services import segments as segment_service
from contacts.services.dependents import dependents
from contacts.services.search import paginate, search_contacts
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

PREVIEW_SIZE = 10


def _segment_or_gone(request: HttpRequest, segment_id: int) -> Segment | HttpResponse:
    """The segment, or for one deleted since the page was drawn (a second click on Delete, a
    colleague's stale page) the segment list saying who deleted it, not a bare Not Found."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is not None:
        return segment
    if note := segment_service.gone_note(segment_id):
        messages.info(request, note)
        url = reverse("contacts:segments")
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    raise Http404("No such segment.")


@require_GET
def segment_index(request: HttpRequest) -> HttpResponse:
    # Counts load one by one through segment_count, so a slow rule never blocks the page.
    return render(request, "contacts/segment_index.html", {"segments": Segment.objects.all()})


@require_GET
def segment_count(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        # Deleted since the list was drawn: a 404 is not swapped in, and "…" stayed forever.
        if note := segment_service.gone_note(segment_id):
            return render(request, "contacts/segment_index.html#count", {"gone": note})
        raise Http404("No such segment.")
    try:
        count, error = segment_service.count_members(segment), ""
    except SwitchboardError as exc:
        count, error = None, exc.message
    return render(request, "contacts/segment_index.html#count", {"count": count, "error": error})


def _builder_context(request: HttpRequest, root: Node, catalogue: Catalogue, **extra) -> dict:
    return {
        # A failed save made nothing: the form keeps the version it was drawn with. (Called
        # only where the whole page is drawn, not for each structural edit's partial.)
        "after_segment": request.POST.get("after_segment") or segment_service.newest_segment_id,
        "root": root,
        "catalogue": catalogue,
        "field_options": catalogue.field_options(),
        "consents": Consent.choices,
        "builder_url": request.path,
        **extra,
    }


def _builder(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    catalogue = Catalogue.load()
    name = request.POST.get("name", segment.name if segment else "").strip()
    if request.method == "GET":
        root = tree_from_rules(segment.rules if segment else {"all": []}, catalogue)
        return render(
            request,
            "contacts/segment_builder.html",
            _builder_context(request, root, catalogue, segment=segment, name=name),
        )

    root = tree_from_form(request.POST, catalogue)
    if action := request.POST.get("action"):
        # A structural edit: render the builder again and let the preview refresh itself.
        root = apply_action(root, action, catalogue)
        response = render(
            request,
            "contacts/segment_builder.html#builder",
            _builder_context(request, root, catalogue, segment=segment),
        )
        return trigger_client_event(response, "segment-changed")

    rules = rules_from_tree(root)
    actor = Actor.staff(request.user)
    try:
        if segment:
            segment = segment_service.update_segment(
                actor=actor,
                segment=segment,
                name=name,
                rules=rules,
                expected_updated_at=_loaded_at(request.POST.get("loaded_at", "")),
            )
        else:
            segment = segment_service.create_segment(
                actor=actor,
                name=name,
                rules=rules,
                after_segment=_list_id(request.POST.get("after_segment")),
            )
    except SwitchboardError as exc:
        # Keep the version the editor loaded: after a conflict, saving again must not
        # silently win over rules this user has not seen.
        context = _builder_context(
            request,
            root,
            catalogue,
            segment=segment,
            name=name,
            error=exc.message,
            loaded_at=request.POST.get("loaded_at", ""),
            conflict=exc.code == "edit_conflict",
        )
        return render(request, "contacts/segment_builder.html", context, status=422)
    messages.success(request, f"Saved segment {segment.name}.")
    return redirect("contacts:segment_detail", segment_id=segment.pk)


def _loaded_at(value: str) -> dt.datetime | None:
    """When the segment in the editor was last saved (a hidden input), or None if absent."""
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


@require_http_methods(["GET", "POST"])
def segment_create(request: HttpRequest) -> HttpResponse:
    return _builder(request, None)


@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, segment_id: int) -> HttpResponse:
    if request.method == "POST" and not Segment.objects.filter(pk=segment_id).exists():
        return _deleted_while_editing(request, segment_id)
    segment = _segment_or_gone(request, segment_id)
    if isinstance(segment, HttpResponse):
        return segment
    return _builder(request, segment)


def _deleted_while_editing(request: HttpRequest, segment_id: int) -> HttpResponse:
    """The segment in the editor was deleted meanwhile: a save (or a click on + Condition)
    answered a bare 404 and the rules built were gone. Keep them, offered as a new segment."""
    catalogue = Catalogue.load()
    root = tree_from_form(request.POST, catalogue)
    new_url = reverse("contacts:segment_create")
    if action := request.POST.get("action"):
        root = apply_action(root, action, catalogue)
        response = render(
            request,
            "contacts/segment_builder.html#builder",
            _builder_context(request, root, catalogue, builder_url=new_url),
        )
        return trigger_client_event(response, "segment-changed")
    deletion = (
        AuditEntry.objects.filter(
            action="segment.delete", object_type="segment", object_id=str(segment_id)
        )
        .order_by("-at", "-id")
        .first()
    )
    who = f" by {deletion.actor_label}" if deletion else ""
    error = (
        f"This segment was deleted{who} while you were editing; nothing was saved. "
        "The rules you built are kept below: save to create them as a new segment."
    )
    context = _builder_context(
        request,
        root,
        catalogue,
        segment=None,
        name=request.POST.get("name", "").strip(),
        error=error,
        builder_url=new_url,
    )
    return render(request, "contacts/segment_builder.html", context, status=422)


@require_POST
def segment_preview(request: HttpRequest) -> HttpResponse:
    """The live count and first members for the rules being edited (nothing is saved)."""
    rules = rules_from_tree(tree_from_form(request.POST, Catalogue.load()))
    context: dict = {"rules": rules}
    try:
        members = search_contacts().filter(compile_rules(rules))
        context["count"] = members.count()
        context["first"] = list(members[:PREVIEW_SIZE])
    except SwitchboardError as exc:
        context["error"] = exc.message
    return render(request, "contacts/segment_builder.html#preview", context)


@require_GET
def segment_detail(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment_or_gone(request, segment_id)
    if isinstance(segment, HttpResponse):
        return segment
    q = request.GET.get("q", "").strip()[:200]
    context: dict = {"segment": segment, "q": q}
    try:
        members = search_contacts(q=q).filter(compile_rules(segment.rules))
        try:
            number = max(1, int(request.GET.get("page") or 1))
        except ValueError:
            number = 1
        context["page"] = paginate(
            members.prefetch_related("tags"), page=number, size=settings.CONTACTS_PAGE_SIZE
        )
    except SwitchboardError as exc:
        context["error"] = exc.message
    template = "contacts/segment_detail.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    else:
        context["dependents"] = dependents("segment", segment.pk)
        context["newest_list_id"] = list_service.newest_list_id()
    return render(request, template, context)


def _list_id(raw: str | None) -> int | None:
    """The snapshot form's ``after_list`` (or the builder's ``after_segment``); None (no
    double-send check) when missing or bad."""
    try:
        value = int(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and 0 <= value < 2**63 else None


@require_POST
def segment_snapshot(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment_or_gone(request, segment_id)
    if isinstance(segment, HttpResponse):
        return segment
    try:
        contact_list = segment_service.snapshot_segment(
            actor=Actor.staff(request.user),
            segment=segment,
            name=request.POST.get("name", "").strip()[:100],
            after_list=_list_id(request.POST.get("after_list")),
        )
    except SwitchboardError as exc:
        messages.error(request, exc.message)
        return redirect("contacts:segment_detail", segment_id=segment.pk)
    messages.success(request, f"Saved the current members as the list {contact_list.name}.")
    return redirect(reverse("contacts:list") + f"?list={contact_list.pk}")


@require_POST
def segment_delete(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment_or_gone(request, segment_id)
    if isinstance(segment, HttpResponse):
        return segment
    segment_service.delete_segment(actor=Actor.staff(request.user), segment=segment)
    messages.success(request, f"Deleted segment {segment.name}. No contact was changed.")
    return redirect("contacts:segments")
