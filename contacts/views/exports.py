"""CSV downloads of a list, a tag or a segment, streamed so a large audience never sits in memory."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from contacts.services.exports import export_contacts
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError

BACK = {"list": "contacts:lists", "tag": "contacts:tags", "segment": "contacts:segments"}


@require_GET
def export_csv(request: HttpRequest, kind: str, source_id: int) -> HttpResponse:
    try:
        export = export_contacts(actor=Actor.staff(request.user), kind=kind, source_id=source_id)
    except SwitchboardError as exc:
        messages.error(request, exc.message)
        if exc.code == "empty_export" and kind == "segment":
            return redirect("contacts:segment_detail", segment_id=source_id)
        return redirect(BACK.get(kind, "contacts:segments"))
    response = StreamingHttpResponse(export.rows, content_type="text/csv; charset=utf-8")
    # RFC 6266 filename*: a name outside Latin-1 (a list called "Clients 東京") was sent as a
    # MIME-encoded header that browsers do not read as an attachment at all.
    response["Content-Disposition"] = content_disposition_header(True, export.filename)
    return response
