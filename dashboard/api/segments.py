"""Segments for agents: read them, create them, list who is in one."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router

from contacts.services.segments import get_segment, segment_members
from dashboard.agents import reads
from dashboard.api.contacts import PAGE_MAX, IdempotencyKey, page_of, unknown_parameters, write
from dashboard.api.core import ERRORS, Refused, agent_of
from dashboard.api.schemas import ContactPage, Id, SegmentIn, SegmentOut

router = Router(tags=["segments"])


@router.get("/segments", response={200: list[SegmentOut], **ERRORS}, summary="Segments")
def segments(request: HttpRequest) -> Any:
    agent_of(request, "contacts:read")
    return reads.segments()


@router.post("/segments", response={201: SegmentOut, **ERRORS}, summary="Create a segment")
def create_segment(
    request: HttpRequest, body: SegmentIn, idempotency_key: str | None = IdempotencyKey
) -> HttpResponse:
    return write(request, "create_segment", body.model_dump(mode="json"), idempotency_key)


@router.get(
    "/segments/{segment_id}/contacts",
    response={200: ContactPage, **ERRORS},
    summary="Contacts in a segment",
)
def segment_contacts(
    request: HttpRequest,
    segment_id: Path[Id],
    cursor: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=PAGE_MAX),
) -> Any:
    """Who matches the segment's rules right now, newest change first; follow `next_cursor`.
    To filter the members, search `GET /contacts` with `segment_id`."""
    hint = " (to filter a segment's members, search GET /api/v1/contacts with segment_id)"
    if unknown := unknown_parameters(request, ("cursor", "limit"), hint=hint):
        raise Refused(unknown)
    agent_of(request, "contacts:read")
    members = segment_members(get_segment(segment_id))
    return page_of(members, cursor, limit, search={"segment_id": segment_id})
