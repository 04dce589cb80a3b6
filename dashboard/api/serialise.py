"""The JSON shapes the API and the MCP server hand to agents (one place, so both agree)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from django.db.models import Prefetch, QuerySet

from contacts.models import (
    Contact,
    ContactList,
    ContactTag,
    Field,
    FieldValue,
    Interaction,
)


def _value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        normalised = value.normalize()
        return int(normalised) if normalised == normalised.to_integral() else float(normalised)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _related() -> list[Any]:
    return [
        Prefetch("contact_tags", queryset=ContactTag.objects.select_related("tag")),
        Prefetch("field_values", queryset=FieldValue.objects.select_related("field")),
        "list_memberships",
    ]


def with_related(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """Prefetch what ``contact_data`` reads, so a page of contacts costs a fixed few queries."""
    return contacts.prefetch_related(*_related())


def contact_data(contact: Contact, *, related: bool = True) -> dict[str, Any]:
    """The contact as agents see it; ``related=False`` leaves out fields, tags and lists."""
    data = {
        "id": str(contact.pk),
        "email": contact.email,
        "phone": contact.phone or None,
        "phone_country": contact.phone_country or None,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email_consent": contact.email_consent,
        "sms_consent": contact.sms_consent,
        "unsubscribed": contact.unsubscribed_at is not None,
        "metadata": contact.metadata,
        "version": contact.version,
        "created_at": contact.created_at.isoformat(),
        "updated_at": contact.updated_at.isoformat(),
    }
    if related:
        data["fields"] = {fv.field.name: _value(fv.value) for fv in contact.field_values.all()}
        data["tags"] = sorted(ct.tag.name for ct in contact.contact_tags.all())
        data["list_ids"] = sorted(m.list_id for m in contact.list_memberships.all())
    return data


def written_contact_data(contact: Contact) -> dict[str, Any]:
    """``contact_data`` of a contact a contact service just wrote: the instance it returned
    holds the row as written and its tags, lists and values (``Related``), so nothing is read
    again (this answers every agent upsert)."""
    related = contact.related  # type: ignore[attr-defined]
    return {
        **contact_data(contact, related=False),
        "fields": {name: _value(value) for name, value in related.values.values()},
        "tags": sorted(related.tags.values()),
        "list_ids": sorted(related.list_ids),
    }


def list_data(contact_list: ContactList, members: int | None = None) -> dict[str, Any]:
    return {
        "id": contact_list.pk,
        "name": contact_list.name,
        "description": contact_list.description,
        "limit": contact_list.limit,
        "members": members,
    }


def field_data(field: Field) -> dict[str, Any]:
    return {"id": field.pk, "name": field.name, "type": field.type}


def interaction_data(interaction: Interaction) -> dict[str, Any]:
    return {
        "id": interaction.pk,
        "kind": interaction.kind,
        "name": interaction.name,
        "description": interaction.description,
        "data": interaction.data,
        "occurred_at": interaction.occurred_at.isoformat(),
        "actor": f"{interaction.actor_kind}:{interaction.actor_label}",
    }


def segment_data(segment: Any) -> dict[str, Any]:
    return {"id": segment.pk, "name": segment.name, "rules": segment.rules}


# What agents are told about a message's state: queued until the provider has it.
SMS_STATES = {"pending": "queued", "held": "queued", "scheduled": "scheduled"}


def message_data(message: Any) -> dict[str, Any]:
    return {
        "id": message.pk,
        "status": SMS_STATES.get(message.status, message.status),
        "to": message.to,
        "contact_id": str(message.contact_id) if message.contact_id else None,
        "kind": message.kind,
        "encoding": message.encoding,
        "segments": message.segments,
        "price": str(message.price),
        "send_after": message.send_after.isoformat() if message.send_after else None,
        "error_code": message.error_code or None,
        "created_at": message.created_at.isoformat(),
    }


def import_data(job: Any) -> dict[str, Any]:
    return {
        "import_job_id": job.pk,
        "status": job.status,
        "file_name": job.file_name,
        "dry_run": job.dry_run,
        "rows_done": job.rows_done,
        "total_rows": job.total_rows,
        "imported": job.imported,
        "updated": job.updated,
        "skipped": job.skipped,
        "invalid": job.invalid,
        "error": job.error or None,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def campaign_data(campaign: Any) -> dict[str, Any]:
    from sms.campaigns.services.progress import campaign_progress

    progress = campaign_progress(campaign)
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "kind": campaign.kind,
        "audience": {
            "kind": campaign.audience_kind,
            "id": campaign.audience_id,
            "label": campaign.audience_label,
        },
        "recipients": campaign.recipients,
        # ``excluded`` also keeps why a campaign could not start: counts and reason apart.
        "excluded": {k: n for k, n in (campaign.excluded or {}).items() if k != "problem"},
        "problem": (campaign.excluded or {}).get("problem"),
        "cost": str(campaign.cost),
        "start_at": campaign.start_at.isoformat() if campaign.start_at else None,
        "progress": {
            key: progress[key]
            for key in (
                "created",
                "sent",
                "delivered",
                "failed",
                "held",
                "waiting",
                "cancelled",
                "percent",
            )  # fmt: skip
        },
    }
