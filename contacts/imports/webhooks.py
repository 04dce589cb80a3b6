"""The signed "import finished" callback, retried with backoff, every attempt recorded.

The receiver checks ``X-Switchboard-Signature: t=<unix time>,v1=<hex>``, where ``v1`` is
HMAC-SHA256 keyed with ``IMPORT_WEBHOOK_SECRET`` over ``"<t>." + raw body``, and refuses old
timestamps (replays). ``verify_signature`` does exactly that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

from contacts.imports.models import ImportJob, WebhookAttempt
from dashboard import outbound
from dashboard.errors import SwitchboardError

HEADER = "X-Switchboard-Signature"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def payload(job: ImportJob) -> dict[str, Any]:
    return {
        "event": "import.finished",
        "job_id": job.pk,
        "status": job.status,
        "dry_run": job.dry_run,
        "file_name": job.file_name,
        "rows": job.rows_done,
        "imported": job.imported,
        "updated": job.updated,
        "skipped": job.skipped,
        "invalid": job.invalid,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def sign(body: bytes, *, timestamp: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(header: str, body: bytes, *, secret: str, tolerance: int = 300) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(body, timestamp=timestamp, secret=secret).split("v1=", 1)[1]
    # As bytes: compare_digest raises TypeError for a str with non-ASCII characters.
    return hmac.compare_digest(expected.encode(), parts.get("v1", "").encode("utf-8", "replace"))


def backoff(attempt: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, 4 min… after the 1st, 2nd, 3rd… failure."""
    return dt.timedelta(seconds=settings.IMPORT_WEBHOOK_BACKOFF * 2 ** (attempt - 1))


def deliver(*, job_id: int, attempt: int) -> WebhookAttempt:
    """POST the summary once; on failure queue the next attempt until the limit."""
    job = ImportJob.objects.get(pk=job_id)
    body = json.dumps(payload(job), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Switchboard-Import/1",
        HEADER: sign(body, timestamp=int(time.time()), secret=settings.IMPORT_WEBHOOK_SECRET),
    }
    record = WebhookAttempt(job=job, attempt=attempt, reported=job.status, at=timezone.now())
    try:
        response = outbound.post(job.webhook_url, content=body, headers=headers, timeout=TIMEOUT)
        record.status_code = response.status_code
        record.ok = response.is_success
        if not record.ok:
            record.error = f"HTTP {response.status_code}"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # InvalidURL: a URL stored before it was checked as strictly; it is no HTTPError.
        record.error = f"{type(exc).__name__}: {exc}"[:300]
    except SwitchboardError as exc:
        # A private address (or none at all) behind the name now: refused, not called.
        record.error = exc.message[:300]
    record.save()
    if not record.ok and attempt < settings.IMPORT_WEBHOOK_ATTEMPTS:
        from contacts.imports.tasks import deliver_import_webhook

        deliver_import_webhook.using(run_after=timezone.now() + backoff(attempt)).enqueue(
            job_id, attempt + 1
        )
    return record
