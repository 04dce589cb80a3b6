"""Contacts, tags, lists, fields and events for agents. Writes go through the pipeline."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.http import HttpRequest, HttpResponse
from ninja import Header, Path, Query, Router, Schema
from pydantic import Field

from contacts.models import Contact, ContactList
from contacts.models import Field as CustomField
from contacts.services.contacts import get_contact
from contacts.services.history import history_page
from dashboard.agents import reads
from dashboard.agents.pipeline import Outcome, perform, refusal
from dashboard.api.core import ERRORS, Refused, agent_of, respond
from dashboard.api.schemas import (
    BatchOut,
    BatchRequest,
    BulkOut,
    ContactIdsIn,
    ContactIn,
    ContactOut,
    ContactPage,
    ContactPatch,
    ErasedOut,
    EventIn,
    FieldIn,
    FieldOut,
    Id,
    InteractionOut,
    ListIn,
    ListOut,
    Moment,
    RemovedOut,
)
from dashboard.api.serialise import (
    contact_data,
    field_data,
    interaction_data,
    list_data,
    with_related,
)

router = Router(tags=["contacts"])
IdempotencyKey = Header(
    None,
    alias="Idempotency-Key",
    description="Retry safely: same key and body within 24 h replays the first answer. "
    "A dry run neither uses nor claims its key.",
    max_length=200,
)
META_KEY = re.compile(r"^metadata\.([A-Za-z0-9_\-]{1,64}(?:\.[A-Za-z0-9_\-]{1,64}){0,4})$")
PAGE_MAX = 100


def write(
    request: HttpRequest,
    action: str,
    payload: dict[str, Any],
    key: str | None,
    *,
    dry_run: bool = False,
    reason: str = "",
) -> HttpResponse:
    agent = request.agent  # type: ignore[attr-defined]
    return respond(
        perform(agent, action, payload, idempotency_key=key, dry_run=dry_run, reason=reason)
    )


class ContactQuery(Schema):
    q: str = Field("", max_length=200, description="Name, email or phone prefix.")
    email: str | None = Field(None, max_length=320, description="Exact email (any case).")
    tag: str | None = Field(None, max_length=100, description="Only contacts with this tag.")
    list_id: Id | None = Field(
        None, description="Only members of this list; an unknown id is 404 `unknown_list`."
    )
    segment_id: Id | None = Field(
        None,
        description="Only contacts matching this segment now; an unknown id is 404 "
        "`unknown_segment`.",
    )
    updated_since: Moment | None = Field(
        None,
        description="ISO 8601 date or date-time, e.g. 2026-11-27 or 2026-11-27T12:00:00+01:00; "
        "no offset means UTC, a date alone its midnight UTC.",
    )
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=PAGE_MAX)


def _search_digest(search: Any) -> str:
    return hashlib.sha256(json.dumps(search, sort_keys=True).encode()).hexdigest()[:16]


def _encode_cursor(contact: Contact, search: Any) -> str:
    raw = f"{contact.updated_at.isoformat()}|{contact.pk}|{_search_digest(search)}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after_cursor(contacts: QuerySet[Contact], cursor: str, search: Any) -> QuerySet[Contact]:
    try:
        stamp, pk, digest = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        updated_at, contact_id = dt.datetime.fromisoformat(stamp), uuid.UUID(pk)
        # The cursors handed out carry an aware stamp; one moved out of range is forged.
        updated_at = updated_at.astimezone(dt.UTC) if updated_at.tzinfo else None
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise _BadCursor(_FORGED) from None
    if updated_at is None:
        raise _BadCursor(_FORGED)
    if digest != _search_digest(search):
        # It would page on from where that other search stopped: a page of this one with
        # its newest matches left out, and nothing to say so.
        raise _BadCursor(
            "This cursor belongs to another search: send it with the filters of the page that "
            "gave it, or leave it out to start this search from its first page."
        )
    # Keyset pagination on (updated_at desc, id desc): stable while rows are added.
    return contacts.filter(
        Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, pk__lt=contact_id)
    )


_FORGED = "This cursor is not one this API handed out."


class _BadCursor(Exception):
    pass


def _filter_metadata(contacts: QuerySet[Contact], request: HttpRequest) -> QuerySet[Contact]:
    """``metadata.plan=pro`` / ``metadata.shop.city=Oslo`` query parameters, all of them."""
    for n, (key, value) in enumerate(request.GET.items()):
        match = META_KEY.match(key)
        if not match:
            continue
        # Explicit key transforms: a key named like a lookup ("contains") stays a key.
        expression: Any = "metadata"
        for part in match.group(1).split("."):
            expression = KeyTransform(part, expression)
        name = f"_meta{n}"
        # JSON keeps types: match the text as given, or as a number/boolean it spells.
        options = Q(**{name: value})
        if value in ("true", "false"):
            options |= Q(**{name: value == "true"})
        elif re.fullmatch(r"-?\d{1,15}(\.\d{1,6})?", value):
            options |= Q(**{name: float(value) if "." in value else int(value)})
        contacts = contacts.alias(**{name: expression}).filter(options)
    return contacts


def unknown_parameters(
    request: HttpRequest, takes: Iterable[str], *, metadata: bool = False, hint: str = ""
) -> Outcome | None:
    """A 400 for query parameters a page of contacts does not take. Ignored, a misspelt or
    guessed filter (``phone=``, ``tags=``) would answer every contact as if it had matched."""
    takes = list(takes)
    names = [n for n in request.GET if n not in takes and not (metadata and META_KEY.match(n))]
    if not names:
        return None
    what = ", ".join(takes) + (
        " and metadata.<key> (up to 5 levels: metadata.a.b)" if metadata else ""
    )
    message = f"not a parameter of this search; it takes {what}{hint}"
    errors = [{"path": f"query.{name}", "message": message} for name in names]
    return Outcome(
        400,
        {"code": "invalid_request", "message": f"query.{names[0]}: {message}", "errors": errors},
    )


@router.get("/contacts", response={200: ContactPage, **ERRORS}, summary="Search contacts")
def list_contacts(request: HttpRequest, filters: Query[ContactQuery]) -> Any:
    """Search by `q`, `email`, `tag`, `list_id`, `segment_id`, `updated_since` and metadata
    (`metadata.plan=pro`, dot notation for nested keys). Newest change first; follow
    `next_cursor` for more."""
    if unknown := unknown_parameters(request, ContactQuery.model_fields, metadata=True):
        raise Refused(unknown)
    agent_of(request, "contacts:read")
    contacts = reads.contact_search(
        q=filters.q, email=filters.email, tag=filters.tag,
        list_id=filters.list_id, segment_id=filters.segment_id,
    )  # fmt: skip
    if filters.updated_since:
        contacts = contacts.filter(updated_at__gte=filters.updated_since)
    search = contact_search_key(
        **filters.model_dump(mode="json", exclude={"cursor", "limit"}),
        metadata={k: v for k, v in request.GET.items() if META_KEY.match(k)},
    )
    contacts = _filter_metadata(contacts, request)
    return page_of(contacts, filters.cursor, filters.limit, search=search)


def page_of(contacts: QuerySet[Contact], cursor: str | None, limit: int, *, search: Any) -> Any:
    """One page of contacts, newest change first, and the cursor for the next. ``search`` (any
    JSON) names what was searched: a cursor is refused by any other search."""
    contacts = contacts.order_by("-updated_at", "-id")
    if cursor:
        try:
            contacts = _after_cursor(contacts, cursor, search)
        except _BadCursor as exc:
            raise Refused(refusal(400, "invalid_cursor", str(exc))) from None
    rows = list(with_related(contacts)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [contact_data(c) for c in rows],
        "next_cursor": _encode_cursor(rows[-1], search) if more else None,
    }


def contact_search_key(
    *,
    q: str = "",
    email: str | None = None,
    tag: str | None = None,
    list_id: int | None = None,
    segment_id: int | None = None,
    updated_since: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What a contact search searched, for its cursors: the API's and the tool's alike."""
    return {"q": q, "email": email, "tag": tag, "list_id": list_id, "segment_id": segment_id,
            "updated_since": updated_since, "metadata": metadata or {}}  # fmt: skip


@router.post(
    "/contacts",
    response={200: ContactOut, 201: ContactOut, **ERRORS},
    summary="Create or upsert a contact",
)
def create_contact(
    request: HttpRequest, body: ContactIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    """201 when created; with `upsert: true` an existing contact with that email is updated (200)."""
    return write(
        request, "upsert_contact", body.model_dump(mode="json", exclude_unset=True), idempotency_key
    )


@router.post(
    "/contacts/batch", response={200: BatchOut, **ERRORS}, summary="Upsert up to 1,000 contacts"
)
def batch_contacts(
    request: HttpRequest, body: BatchRequest, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    """Each item is upserted by email on its own: one bad item fails alone, with its error."""
    payload = body.model_dump(mode="json", exclude_unset=True)
    payload.pop("dry_run", None)
    return write(request, "batch_upsert", payload, idempotency_key, dry_run=body.dry_run)


@router.get("/contacts/{contact_id}", response={200: ContactOut, **ERRORS}, summary="Get a contact")
def read_contact(request: HttpRequest, contact_id: str) -> Any:
    agent_of(request, "contacts:read")
    contact = get_contact(contact_id)
    return contact_data(with_related(Contact.objects.filter(pk=contact.pk)).get())


@router.delete(
    "/contacts/{contact_id}",
    response={200: ErasedOut, 202: ErasedOut, **ERRORS},
    summary="Erase a contact",
)
def erase_contact(
    request: HttpRequest, contact_id: str, reason: str = Query("", max_length=500)
) -> HttpResponse:
    """Erasure for good (GDPR): the contact, its history and personal data in the audit trail;
    the email and phone are suppressed. Needs `contacts:erase`; gated agents get 202
    `pending_approval`. A contact erased before answers 406 `already_erased` (a retry's
    answer: the erasure happened), one that never existed 404 `unknown_contact`."""
    return write(request, "erase_contact", {"contact_id": contact_id}, None, reason=reason)


@router.patch(
    "/contacts/{contact_id}", response={200: ContactOut, **ERRORS}, summary="Change a contact"
)
def patch_contact(
    request: HttpRequest,
    contact_id: str,
    body: ContactPatch,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    """Only the given attributes change; metadata is merged; tags and list_ids are added."""
    payload = {"contact_id": contact_id, **body.model_dump(mode="json", exclude_unset=True)}
    return write(request, "update_contact", payload, idempotency_key)


@router.get(
    "/contacts/{contact_id}/interactions",
    response={200: list[InteractionOut], **ERRORS},
    summary="A contact's history",
)
def contact_interactions(
    request: HttpRequest,
    contact_id: str,
    limit: int = Query(50, ge=1, le=PAGE_MAX),
    before: int | None = Query(
        None,
        ge=1,
        le=2**53,
        description="The id of the last entry you have: the entries older than it.",
    ),
) -> Any:
    """Newest first. For more than one page, pass the last entry's id as `before`."""
    if unknown := unknown_parameters(request, ("limit", "before")):
        raise Refused(unknown)
    agent_of(request, "contacts:read")
    contact = get_contact(contact_id)
    return [interaction_data(i) for i in history_page(contact, limit=limit, before=before)]


@router.post(
    "/contacts/{contact_id}/events",
    response={201: InteractionOut, **ERRORS},
    summary="Record an event",
)
def contact_event(
    request: HttpRequest,
    contact_id: str,
    body: EventIn,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    """Something another system saw (`email_opened` with `{"campaign": "Spring Sale"}`); it lands
    in the contact's history and segment rules can use it."""
    payload = {"contact_id": contact_id, **body.model_dump(mode="json", exclude_unset=True)}
    return write(request, "record_event", payload, idempotency_key)


@router.post(
    "/tags/{path:tag_name}/contacts",
    response={200: BulkOut, **ERRORS},
    summary="Tag contacts",
    tags=["tags"],
)
def tag_contacts(
    request: HttpRequest,
    tag_name: str,
    body: ContactIdsIn,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    """Apply the tag (created if new) to each contact; per-contact results."""
    payload = {"tag_name": tag_name, "contact_ids": body.contact_ids}
    return write(request, "tag_contacts", payload, idempotency_key, dry_run=body.dry_run)


@router.delete(
    "/tags/{path:tag_name}/contacts/{contact_id}",
    response={200: RemovedOut, **ERRORS},
    summary="Untag a contact",
    tags=["tags"],
)
def untag_contact(request: HttpRequest, tag_name: str, contact_id: str) -> HttpResponse:
    return write(request, "untag_contact", {"tag_name": tag_name, "contact_id": contact_id}, None)


@router.get("/lists", response={200: list[ListOut], **ERRORS}, summary="Lists", tags=["lists"])
def lists(request: HttpRequest) -> Any:
    agent_of(request, "contacts:read")
    rows = ContactList.objects.annotate(members=Count("memberships"))
    return [list_data(row, members=row.members) for row in rows]


@router.post("/lists", response={201: ListOut, **ERRORS}, summary="Create a list", tags=["lists"])
def create_list(
    request: HttpRequest, body: ListIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    return write(request, "create_list", body.model_dump(mode="json"), idempotency_key)


@router.post(
    "/lists/{list_id}/contacts",
    response={200: BulkOut, **ERRORS},
    summary="Add contacts to a list",
    tags=["lists"],
)
def add_to_list(
    request: HttpRequest,
    list_id: Path[Id],
    body: ContactIdsIn,
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    """Per-contact results; a full list refuses the contacts that do not fit (`list_full`)."""
    payload = {"list_id": list_id, "contact_ids": body.contact_ids}
    return write(request, "add_to_list", payload, idempotency_key, dry_run=body.dry_run)


@router.delete(
    "/lists/{list_id}/contacts/{contact_id}",
    response={200: RemovedOut, **ERRORS},
    summary="Remove a contact from a list",
    tags=["lists"],
)
def remove_from_list(request: HttpRequest, list_id: Path[Id], contact_id: str) -> HttpResponse:
    return write(request, "remove_from_list", {"list_id": list_id, "contact_id": contact_id}, None)


@router.get(
    "/fields", response={200: list[FieldOut], **ERRORS}, summary="Custom fields", tags=["fields"]
)
def fields(request: HttpRequest) -> Any:
    agent_of(request, "contacts:read")
    return [field_data(f) for f in CustomField.objects.all()]


@router.post(
    "/fields", response={201: FieldOut, **ERRORS}, summary="Create a custom field", tags=["fields"]
)
def create_field(
    request: HttpRequest, body: FieldIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    return write(request, "create_field", body.model_dump(mode="json"), idempotency_key)
