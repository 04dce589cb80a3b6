"""Refusing an oversized import upload before its body is read, by the dashboard and the API.

Whatever first reads ``request.POST`` (the CSRF check, the API's request checks) reads the
whole multipart body, spooling the file to disk: a 2 GB upload would be received in full only
to be refused afterwards. ``refuse_oversized_upload`` runs before any of them.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict

from contacts.imports.csvreader import too_large
from dashboard.errors import SwitchboardError

# Room for the multipart envelope (boundaries, part headers, the form's other fields).
ENVELOPE = 64 * 1024


class SizeLimitHandler(FileUploadHandler):
    """First of the request's upload handlers: refuses a body whose Content-Length is above the
    limit without reading it, and stops reading one whose files turn out larger as they arrive
    (a Content-Length that understates the body). The refusal is left in ``refusal``."""

    def __init__(self, request: HttpRequest, max_bytes: int):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.received = 0
        self.refusal: SwitchboardError | None = None

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > self.max_bytes + ENVELOPE:
            self.refusal = too_large(self.max_bytes)
            # Parsed as an empty form: nothing of the body is read.
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.refusal = too_large(self.max_bytes)
            # connection_reset: the rest of the body is left unread.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the handlers after this one build the file


def refuse_oversized_upload(request: HttpRequest, *, max_bytes: int) -> SwitchboardError | None:
    """Read the request's form with ``max_bytes`` enforced: the ``file_too_large`` error when
    its upload is larger (read no further than the limit), else None.

    Call it before anything else reads the body; afterwards ``request.POST`` and
    ``request.FILES`` hold the form as usual.
    """
    limit = SizeLimitHandler(request, max_bytes)
    request.upload_handlers.insert(0, limit)
    request.POST  # noqa: B018  (parse now, with the limit in place)
    return limit.refusal
