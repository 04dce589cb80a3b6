"""Contact search, creation and the contact page with its inline-edited sections."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from contacts.forms import (
    AddToListForm,
    ContactEditForm,
    ContactForm,
    MetadataForm,
    TagForm,
    field_values_form,
)
from contacts.models import Contact, ContactList, Field, Tag
from contacts.phones import format_national
from contacts.services import contacts as contact_service
from contacts.services import duplicates as duplicate_service
from contacts.services import lists as list_service
from contacts.services import tags as tag_service
from contacts.services.search import DEFAULT_SORT, SORTS, paginate, search_contacts
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error
from dashboard.models import AuditEntry

HISTORY_LIMIT = 50
HISTORY_MAX = 1000


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


class ContactGone(Http404):
    """The contact no longer exists: erased, deleted (an import revert), or merged into
    ``survivor_id``."""

    def __init__(self, message: str, survivor_id: uuid.UUID | None = None) -> None:
        super().__init__(message)
        self.survivor_id = survivor_id


def get_contact_or_404(contact_id: uuid.UUID) -> Contact:
    try:
        return Contact.objects.get(pk=contact_id)
    except Contact.DoesNotExist:
        survivor_id = duplicate_service.merged_into(contact_id)
        if survivor_id:
            raise ContactGone("This contact was merged into another.", survivor_id) from None
        raise ContactGone(
            "This contact no longer exists: it was erased or deleted. Reload the page."
        ) from None


def contact_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page or section of one contact that says where the contact went once it is gone.

    Erased or merged while the page was open, an htmx request (Edit, Add tag, the history
    reload) answered a bare 404 that htmx swaps nowhere: the click did nothing. Now a merged
    contact's page opens the survivor's, and for one erased the click says so."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, contact_id: uuid.UUID, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, contact_id, *args, **kwargs)
        except ContactGone as exc:
            if exc.survivor_id:
                messages.info(request, f"{exc} This is the contact it was merged into.")
                url = reverse("contacts:detail", args=[exc.survivor_id])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
            if not request.htmx:
                raise
            response = HttpResponse(status=404)
            return trigger_client_event(response, "toast", {"message": str(exc), "level": "error"})

    return wrapper


def _changed(
    response: HttpResponse, message: str, contact: Contact | None = None, known: int | None = None
) -> HttpResponse:
    """Tell the page the contact changed (history panels reload) and show a toast.

    ``known`` is the version this save started from. When the save is the only change since
    then, the event carries both versions so the page's other open forms still based on
    ``known`` move to the new one: otherwise saving the metadata, then the details form
    opened before it, is refused as "changed by <you> while you were editing"."""
    detail = {}
    if contact is not None and known is not None and contact.version == known + 1:
        detail = {"previous": known, "version": contact.version}
    trigger_client_event(response, "contact-changed", detail)
    return trigger_client_event(response, "toast", {"message": message, "level": "success"})


def _unchanged(response: HttpResponse, message: str) -> HttpResponse:
    """Nothing changed (someone did it a moment ago, in another tab or by a double click):
    say so rather than claim the change, and reload nothing."""
    return trigger_client_event(response, "toast", {"message": message, "level": "info"})


def _columns(sort: str) -> list[dict]:
    """Table headers: clicking a sorted column reverses it."""
    columns = []
    for label, key in [
        ("Name", "name"),
        ("Email", "email"),
        ("Phone", ""),
        ("Tags", ""),
        ("Updated", "-updated"),
    ]:
        reverse = key[1:] if key.startswith("-") else f"-{key}"
        arrow = "▲" if sort == key.lstrip("-") else "▼" if sort == f"-{key.lstrip('-')}" else ""
        columns.append(
            {"label": label, "sort": key, "next": reverse if sort == key else key, "arrow": arrow}
        )
    return columns


@require_GET
def contact_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    sort = request.GET.get("sort", DEFAULT_SORT)
    sort = sort if sort in SORTS else DEFAULT_SORT
    tag_id = _int_or_none(request.GET.get("tag"))
    list_id = _int_or_none(request.GET.get("list"))
    page = paginate(
        search_contacts(q=q, tag_id=tag_id, list_id=list_id, sort=sort).prefetch_related("tags"),
        page=_int_or_none(request.GET.get("page")) or 1,
        size=settings.CONTACTS_PAGE_SIZE,
    )
    tags, lists = list(Tag.objects.all()), list(ContactList.objects.all())
    context = {
        "page": page,
        "q": q,
        "sort": sort,
        "columns": _columns(sort),
        "tag_id": tag_id,
        "list_id": list_id,
        "tags": tags,
        "lists": lists,
        # A link to a since-deleted tag or list still filters (to nobody): show that filter
        # instead of "Any tag" above an empty page.
        "tag_gone": tag_id is not None and tag_id not in {t.pk for t in tags},
        "list_gone": list_id is not None and list_id not in {cl.pk for cl in lists},
    }
    template = "contacts/contact_list.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = contact_service.create_contact(
                actor=Actor.staff(request.user), **form.cleaned_data
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Created {contact}.")
            return redirect("contacts:detail", contact_id=contact.pk)
    return render(request, "contacts/contact_create.html", {"form": form})


@require_GET
@contact_view
def contact_detail(request: HttpRequest, contact_id: uuid.UUID) -> HttpResponse:
    contact = get_contact_or_404(contact_id)
    return render(request, "contacts/contact_detail.html", _detail_context(contact))


def _detail_context(contact: Contact, **extra) -> dict:
    values = {fv.field_id: fv for fv in contact.field_values.select_related("field")}
    return {
        "contact": contact,
        "field_rows": [(field, values.get(field.pk)) for field in Field.objects.all()],
        "contact_tags": contact.tags.order_by("name"),
        "contact_lists": contact.lists.order_by("name"),
        "all_tags": Tag.objects.only("name"),
        "list_form": AddToListForm(),
        "metadata_form": MetadataForm(),
        **extra,
    }


@require_http_methods(["GET", "POST"])
@contact_view
def contact_edit(request: HttpRequest, contact_id: uuid.UUID) -> HttpResponse:
    """The details section: GET shows the form, POST saves it (refusing stale versions)."""
    contact = get_contact_or_404(contact_id)
    if request.method == "GET":
        form = ContactEditForm(initial={
            # The phone as people write it (+44 7700 123456); saving parses it back to E.164.
            "email": contact.email, "phone": format_national(contact.phone),
            "first_name": contact.first_name, "last_name": contact.last_name,
            "email_consent": contact.email_consent,
            "sms_consent": contact.sms_consent, "unsubscribed": contact.is_unsubscribed,
            "version": contact.version,
        })  # fmt: skip
        return render(
            request, "contacts/contact_detail.html#details-form", {"contact": contact, "form": form}
        )

    form = ContactEditForm(request.POST)
    conflict = False
    if form.is_valid():
        data = form.cleaned_data
        known = data.pop("version")
        try:
            contact = contact_service.update_contact(
                actor=Actor.staff(request.user), contact=contact, expected_version=known, **data
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
            conflict = exc.code == "edit_conflict"
        else:
            if not request.htmx:
                return redirect("contacts:detail", contact_id=contact.pk)
            response = render(request, "contacts/contact_detail.html#details", {"contact": contact})
            return _changed(response, "Contact saved.", contact, known)
    return render(
        request,
        "contacts/contact_detail.html#details-form",
        {"contact": contact, "form": form, "conflict": conflict},
    )


@require_GET
@contact_view
def contact_details(request: HttpRequest, contact_id: uuid.UUID) -> HttpResponse:
    """The read-only details section (what "Cancel" goes back to)."""
    contact = get_contact_or_404(contact_id)
    return render(request, "contacts/contact_detail.html#details", {"contact": contact})


@require_http_methods(["GET", "POST"])
@contact_view
def contact_fields_edit(request: HttpRequest, contact_id: uuid.UUID) -> HttpResponse:
    contact = get_contact_or_404(contact_id)
    fields = list(Field.objects.all())
    initial = {
        f"field_{fv.field_id}": fv.form_value for fv in contact.field_values.select_related("field")
    }
    initial["version"] = contact.version
    form = field_values_form(fields, initial)
    conflict = False
    if request.method == "POST":
        form = type(form)(request.POST, initial=initial)
        if dropped := _values_of_deleted_fields(request, form):
            # Saving the rest would report "saved" and silently drop what was typed there.
            form.add_error(
                None,
                f"A custom field in this form was deleted while you were editing, so "
                f"{dropped} cannot be saved. The form now shows the fields that exist; "
                "save again to keep the other values.",
            )
        elif form.is_valid():
            submitted = {field.name: form.cleaned_data.get(f"field_{field.pk}") for field in fields}
            try:
                contact = contact_service.update_contact(
                    actor=Actor.staff(request.user),
                    contact=contact,
                    expected_version=form.cleaned_data["version"],
                    fields=submitted,
                )
            except SwitchboardError as exc:
                key = next(
                    (
                        f"field_{f.pk}"
                        for f in fields
                        if f.name.lower() == (exc.field or "").lower()
                    ),
                    None,
                )
                form.add_error(key, exc.message)
                conflict = exc.code == "edit_conflict"
            else:
                if not request.htmx:
                    return redirect("contacts:detail", contact_id=contact.pk)
                response = render(
                    request, "contacts/contact_detail.html#fields", _detail_context(contact)
                )
                return _changed(
                    response, "Custom fields saved.", contact, form.cleaned_data["version"]
                )
        return render(
            request,
            "contacts/contact_detail.html#fields-form",
            {"contact": contact, "form": form, "conflict": conflict},
        )
    if request.GET.get("cancel"):
        return render(request, "contacts/contact_detail.html#fields", _detail_context(contact))
    return render(
        request, "contacts/contact_detail.html#fields-form", {"contact": contact, "form": form}
    )


def _values_of_deleted_fields(request: HttpRequest, form) -> str:
    """What was typed into inputs of custom fields deleted since the form was loaded."""
    typed = [
        f"“{value.strip()}”"
        for key, value in request.POST.items()
        if key.startswith("field_") and key not in form.fields and value.strip()
    ]
    return " and ".join(typed)


def _tags_response(request: HttpRequest, contact: Contact, error: str = "") -> HttpResponse:
    context = _detail_context(contact, tag_error=error)
    return render(request, "contacts/contact_detail.html#tags", context)


@require_POST
@contact_view
def contact_tag_add(request: HttpRequest, contact_id: uuid.UUID) -> HttpResponse:
    contact = get_contact_or_404(contact_id)
    form = TagForm(request.POST)
    if not form.is_valid():
        return _tags_response(request, contact, "Type a tag name (up to 64 characters).")
    try:
        tag, added = tag_service.tag_contact(
            actor=Actor.staff(request.user), contact=contact, tag_name=form.cleaned_data["name"]
        )
    except SwitchboardError as exc:
        return _tags_response(request, contact, exc.message)
    response = _tags_response(request, contact)
    if not added:  # nothing changed: say so, and reload nothing
        return _unchanged(response, f"Already tagged {tag.name}.")
    return _changed(response, f"Tagged {tag.name}.")


@require_POST
@contact_view
def contact_tag_remove(request: HttpRequest, contact_id: uuid.UUID, tag_id: int) -> HttpResponse:
    contact = get_contact_or_404(contact_id)
    tag = Tag.objects.filter(pk=tag_id).first()
    if tag is None:
        return _tags_response(request, contact, "That tag no longer exists.")
    if not tag_service.untag_contact(actor=Actor.staff(request.user), contact=contact, tag=tag):
        return _unchanged(_tags_response(request, contact), f"{tag.name} was already removed.")
    return _changed(_tags_response(request, contact), f"Removed tag {tag.name}.")


def _lists_response(request: HttpRequest, contact: Contact, error: str = "") -> HttpResponse:
    return render(
        request, "contacts/contact_detail.html#lists", _detail_context(contact, list_error=error)
    )


@require_POST
@contact_view
def contact_list_add(request: HttpRequest, contact_id: uuid.UUID) -> HttpResponse:
    contact = get_contact_or_404(contact_id)
    form = AddToListForm(request.POST)
    if not form.is_valid():
        # A list picked from the page and deleted since is not "no list chosen".
        chosen = request.POST.get("list_id", "").strip()
        return _lists_response(
            request, contact, "That list no longer exists." if chosen else "Choose a list."
        )
    contact_list = form.cleaned_data["list_id"]
    try:
        added = list_service.add_to_list(
            actor=Actor.staff(request.user), contact=contact, contact_list=contact_list
        )
    except SwitchboardError as exc:
        return _lists_response(request, contact, exc.message)
    if not added:  # nothing changed: say so rather than "Added", and reload nothing
        return _unchanged(_lists_response(request, contact), f"Already in {contact_list.name}.")
    return _changed(_lists_response(request, contact), f"Added to {contact_list.name}.")


@require_POST
@contact_view
def contact_list_remove(request: HttpRequest, contact_id: uuid.UUID, list_id: int) -> HttpResponse:
    contact = get_contact_or_404(contact_id)
    contact_list = ContactList.objects.filter(pk=list_id).first()
    if contact_list is None:
        return _lists_response(request, contact, "That list no longer exists.")
    if not list_service.remove_from_list(
        actor=Actor.staff(request.user), contact=contact, contact_list=contact_list
    ):
        message = f"Already removed from {contact_list.name}."
        return _unchanged(_lists_response(request, contact), message)
    return _changed(_lists_response(request, contact), f"Removed from {contact_list.name}.")


@require_POST
@contact_view
def contact_metadata_set(request: HttpRequest, contact_id: uuid.UUID) -> HttpResponse:
    contact = get_contact_or_404(contact_id)
    form = MetadataForm(request.POST)
    error = ""
    known = contact.version
    if form.is_valid():
        try:
            contact = contact_service.update_contact(
                actor=Actor.staff(request.user),
                contact=contact,
                metadata={form.cleaned_data["key"]: form.cleaned_data["value"]},
            )
        except SwitchboardError as exc:
            error = exc.message
    else:
        error = "Give a key (and a value; an empty value removes the key)."
    # A refused key and value stay in the form to fix, rather than being typed again.
    typed = {"key": request.POST.get("key", ""), "value": request.POST.get("value", "")}
    response = render(
        request,
        "contacts/contact_detail.html#metadata",
        _detail_context(contact, metadata_error=error, metadata_typed=typed if error else {}),
    )
    return response if error else _changed(response, "Metadata saved.", contact, known)


@require_GET
@contact_view
def contact_history(request: HttpRequest, contact_id: uuid.UUID) -> HttpResponse:
    """Interaction and audit history; reloaded by the page whenever the contact changes.

    The latest HISTORY_LIMIT of each, and more on request (``?limit=``), so older entries stay
    reachable without one page loading a long-lived contact's whole past."""
    contact = get_contact_or_404(contact_id)
    limit = min(max(_int_or_none(request.GET.get("limit")) or 0, HISTORY_LIMIT), HISTORY_MAX)
    # One row more than shown says whether there is more, without counting.
    interactions = list(contact.interactions.all()[: limit + 1])
    audit_entries = list(AuditEntry.objects.filter(contact_id=contact.pk)[: limit + 1])
    more = len(interactions) > limit or len(audit_entries) > limit
    context = {
        "contact": contact,
        "interactions": interactions[:limit],
        "audit_entries": audit_entries[:limit],
        "limit": limit,
        "more": more and limit < HISTORY_MAX,
        # At the longest the panel shows, say older entries exist rather than stop silently.
        "capped": more and limit >= HISTORY_MAX,
        "next_limit": min(limit + HISTORY_LIMIT, HISTORY_MAX),
    }
    return render(request, "contacts/_history.html", context)
