"""Imports for agents: upload a CSV with its options, then poll the job."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from pathlib import Path as FilePath
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import File, Form, Path, Router, Schema
from ninja.decorators import decorate_view
from ninja.errors import AuthenticationError
from ninja.files import UploadedFile
from pydantic import Field

from contacts.imports.uploads import refuse_oversized_upload
from contacts.services.imports import upload_import
from dashboard import jsonvalues
from dashboard.actors import Actor
from dashboard.agents import reads
from dashboard.agents.pipeline import over_limits, perform, scope_refusal
from dashboard.api.contacts import IdempotencyKey
from dashboard.api.core import ERRORS, agent_of, api, bearer_agent, error, respond
from dashboard.api.schemas import ErrorOut, Id, ImportOut
from dashboard.errors import SwitchboardError

router = Router(tags=["imports"])


class ImportForm(Schema):
    list_id: Id | None = Field(None, description="Add every imported contact to this list.")
    mode: Literal["create", "update", "upsert"] = "upsert"
    default_region: str = Field("", max_length=2, description="Region for national numbers.")
    mapping: str = Field(
        "",
        max_length=20_000,
        description='JSON object column -> field, e.g. {"E-mail": "email"}; empty to auto-map.',
    )
    webhook_url: str = Field("", max_length=500, description="Called when the import ends.")
    dry_run: bool = Field(False, description="Validate and count every row; write nothing.")


def _upload_limit(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer what needs no body first (the token, the scope, the agent's limits), then refuse
    an oversized file, all before the request's checks and authentication read the body: a
    refused request stores nothing, and a caller without a valid token learns nothing."""

    @wraps(run)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        agent = bearer_agent(request)
        if agent is None:
            return api.on_exception(request, AuthenticationError())
        if refused := scope_refusal(agent, "imports:write") or over_limits(agent):
            return respond(refused)
        if refusal := refuse_oversized_upload(request, max_bytes=settings.IMPORT_MAX_BYTES):
            return JsonResponse(refusal.as_dict(), status=413)
        return run(request, *args, **kwargs)

    return limited


@router.post(
    "/imports", response={202: ImportOut, 413: ErrorOut, **ERRORS}, summary="Import a CSV file"
)
@decorate_view(_upload_limit)
def create_import(
    request: HttpRequest,
    file: File[UploadedFile],
    options: Form[ImportForm],
    idempotency_key: str | None = IdempotencyKey,
) -> HttpResponse:
    """Answers 202 with `import_job_id` at once; poll `GET /imports/{id}` for the counts.
    A file above the size limit is refused with 413 (`file_too_large`) before it is read."""
    agent = request.agent  # type: ignore[attr-defined]
    try:
        mapping = jsonvalues.loads(options.mapping) if options.mapping.strip() else None
    except ValueError:
        return error(400, "invalid_request", "mapping: not valid JSON.", field="mapping")
    if mapping is not None and not (
        isinstance(mapping, dict) and all(isinstance(v, str) for v in mapping.values())
    ):
        return error(400, "invalid_request", "mapping: a JSON object of strings.", field="mapping")
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    actor = Actor.agent(agent.pk, agent.name)
    try:
        job = upload_import(
            actor=actor, file=file, file_name=file.name or "upload.csv", size=file.size
        )
    except SwitchboardError as exc:
        return error(406, exc.code, exc.message, **exc.details)
    options_data = options.model_dump(mode="json")
    options_data["mapping"] = mapping
    outcome = perform(
        agent,
        "start_import",
        {**options_data, "import_job_id": job.pk},
        # A dry run neither uses nor claims its key, as everywhere: the real import sent next
        # with that key must not be refused as a reuse of it.
        idempotency_key=None if options.dry_run else idempotency_key,
        fingerprint={**options_data, "file_sha256": digest.hexdigest()},
    )
    if outcome.body.get("import_job_id") != job.pk:
        # Refused, failed or replayed: the fresh upload is not needed.
        FilePath(job.file_path).unlink(missing_ok=True)
        job.delete()
    return respond(outcome)


@router.get(
    "/imports/{import_id}", response={200: ImportOut, **ERRORS}, summary="An import's progress"
)
def import_status(request: HttpRequest, import_id: Path[Id]) -> Any:
    """Status and the counts imported / updated / skipped / invalid so far."""
    return reads.import_status(agent_of(request, "imports:write"), import_id)
