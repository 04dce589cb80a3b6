"""Reading back what the services recorded about a contact."""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from dashboard.models import AuditEntry


def audit_actions(contact: Contact) -> list[str]:
    """The audit actions recorded about a contact, oldest first."""
    entries = AuditEntry.objects.filter(contact_id=contact.pk).order_by("at", "id")
    return list(entries.values_list("action", flat=True))


def last_audit(contact: Contact) -> AuditEntry:
    entry = AuditEntry.objects.filter(contact_id=contact.pk).order_by("-at", "-id").first()
    assert entry is not None, "no audit entry recorded"
    return entry


def history_kinds(contact: Contact) -> list[str]:
    """The interaction kinds in a contact's history, oldest first."""
    return list(contact.interactions.order_by("occurred_at", "id").values_list("kind", flat=True))


def queries_to_get(client: Client, url: str) -> int:
    """How many queries a page takes: compared before and after adding rows, it shows an N+1."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)
