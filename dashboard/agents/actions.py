"""The registry of agent actions: name -> scope, handler calling the service, gated or not.

Handlers take a JSON payload already checked against its schema, call the services with the
agent's actor and answer a ``Result``. They raise ``SwitchboardError`` for a broken rule; the
pipeline turns it into a 404/406 and rolls the action back. With ``dry_run`` they run the same
code inside a transaction the pipeline rolls back, so a preview can never drift from the real
thing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction

from contacts.imports.models import ImportJob
from contacts.models import Tag
from contacts.phones import normalise_phone
from contacts.services import contacts as contact_service
from contacts.services import erasure as erasure_service
from contacts.services import fields as field_service
from contacts.services import imports as import_service
from contacts.services import lists as list_service
from contacts.services import segments as segment_service
from contacts.services import tags as tag_service
from contacts.services.history import record_event
from dashboard.actors import Actor
from dashboard.agents.models import Agent
from dashboard.agents.pipeline import ActionSpec, Result, register
from dashboard.api.serialise import (
    campaign_data,
    field_data,
    import_data,
    interaction_data,
    list_data,
    message_data,
    segment_data,
    written_contact_data,
)
from dashboard.errors import SwitchboardError
from sms.campaigns.services import campaigns as campaign_service
from sms.services import credits as credit_service
from sms.services import messages as sms_service
from sms.services import otp as otp_service

CONTACT_ATTRS = (
    "phone", "first_name", "last_name", "email_consent", "sms_consent", "fields", "tags", "list_ids",
)  # fmt: skip


def _attrs(payload: dict[str, Any]) -> dict[str, Any]:
    """The contact attributes the caller gave; ``metadata`` passes even as None (no change)."""
    attrs = {k: payload[k] for k in CONTACT_ATTRS if payload.get(k) is not None}
    if "metadata" in payload:
        attrs["metadata"] = payload["metadata"]
    return attrs


def _upsert_one(actor: Actor, item: dict[str, Any], *, upsert: bool) -> tuple[Any, bool]:
    if upsert:
        return contact_service.upsert_contact(actor=actor, email=item["email"], **_attrs(item))
    contact = contact_service.create_contact(actor=actor, email=item["email"], **_attrs(item))
    return contact, True


def upsert_contact(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    contact, created = _upsert_one(actor, payload, upsert=bool(payload.get("upsert")))
    return Result(201 if created else 200, written_contact_data(contact))


def update_contact(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    attrs = _attrs(payload)
    if payload.get("email") is not None:
        attrs["email"] = payload["email"]
    if payload.get("unsubscribed") is not None:
        attrs["unsubscribed"] = payload["unsubscribed"]
    contact = contact_service.update_contact(
        actor=actor,
        contact=payload["contact_id"],
        expected_version=payload.get("expected_version"),
        **attrs,
    )
    return Result(200, written_contact_data(contact))


def _per_item(
    items: Iterable[Any], run: Callable[[Any], dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """Run each item in its own savepoint: one bad item fails alone. Returns (results, failed)."""
    results, failed = [], 0
    for index, item in enumerate(items):
        try:
            with transaction.atomic():
                results.append({"index": index, **run(item)})
        except SwitchboardError as exc:
            failed += 1
            results.append({"index": index, "result": "error", **exc.as_dict()})
    return results, failed


def batch_upsert(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    def one(item: dict[str, Any]) -> dict[str, Any]:
        contact, created = _upsert_one(actor, item, upsert=item.get("upsert", True))
        return {"result": "created" if created else "updated", "id": str(contact.pk)}

    results, failed = _per_item(payload["contacts"], one)
    counts = {"created": 0, "updated": 0, "error": 0}
    for row in results:
        counts[row["result"]] += 1
    return Result(200, {"results": results, **counts})


def tag_contacts(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    tag_name = payload["tag_name"]

    def one(contact_id: str) -> dict[str, Any]:
        contact = contact_service.get_contact(contact_id)
        _, applied = tag_service.tag_contact(actor=actor, contact=contact, tag_name=tag_name)
        return {"contact_id": str(contact.pk), "result": "tagged" if applied else "already_tagged"}

    tag_service.clean_tag_name(tag_name, field="tag_name")
    results, failed = _per_item(payload["contact_ids"], one)
    return Result(200, {"tag": tag_name, "results": results, "failed": failed})


def _get_tag(name: str) -> Tag:
    tag = tag_service.find_tag(name)
    if tag is None:
        raise SwitchboardError("unknown_tag", f"There is no tag named “{name}”.", field="tag_name")
    return tag


def untag_contact(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    contact = contact_service.get_contact(payload["contact_id"])
    tag = _get_tag(payload["tag_name"])
    removed = tag_service.untag_contact(actor=actor, contact=contact, tag=tag)
    return Result(200, {"contact_id": str(contact.pk), "tag": tag.name, "removed": removed})


def add_to_list(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    contact_list = list_service.get_list(payload["list_id"])

    def one(contact_id: str) -> dict[str, Any]:
        contact = contact_service.get_contact(contact_id)
        added = list_service.add_to_list(actor=actor, contact=contact, contact_list=contact_list)
        return {"contact_id": str(contact.pk), "result": "added" if added else "already_member"}

    results, failed = _per_item(payload["contact_ids"], one)
    return Result(200, {"list_id": contact_list.pk, "results": results, "failed": failed})


def remove_from_list(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    contact_list = list_service.get_list(payload["list_id"])
    contact = contact_service.get_contact(payload["contact_id"])
    removed = list_service.remove_from_list(actor=actor, contact=contact, contact_list=contact_list)
    return Result(
        200, {"contact_id": str(contact.pk), "list_id": contact_list.pk, "removed": removed}
    )


def create_list(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    contact_list = list_service.create_list(
        actor=actor,
        name=payload["name"],
        limit=payload.get("limit"),
        description=payload.get("description") or "",
    )
    return Result(201, list_data(contact_list, members=0))


def create_field(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    field = field_service.create_field(actor=actor, name=payload["name"], type=payload["type"])
    return Result(201, field_data(field))


def record_contact_event(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    contact = contact_service.get_contact(payload["contact_id"])
    occurred_at = payload.get("occurred_at")
    if isinstance(occurred_at, str):
        occurred_at = dt.datetime.fromisoformat(occurred_at)
    interaction = record_event(
        actor=actor,
        contact=contact,
        name=payload["name"],
        params=payload.get("params"),
        occurred_at=occurred_at,
    )
    return Result(201, interaction_data(interaction))


def erase_contact(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    # The service tells a contact erased before (already_erased) from one that never was:
    # an agent retrying a request whose answer it lost must learn the erasure happened.
    erased = erasure_service.erase_contact(actor=actor, contact=payload["contact_id"])
    segments = [{"id": s.pk, "name": s.name} for s in erased.segments_changed]
    return Result(
        200, {"contact_id": str(erased.contact_id), "erased": True, "segments_changed": segments}
    )


def create_segment(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    segment = segment_service.create_segment(
        actor=actor, name=payload["name"], rules=payload["rules"]
    )
    return Result(201, segment_data(segment))


def _check_one_recipient(contact: Any, to: str | None) -> None:
    """Given a contact, the send goes to its phone: a ``to`` naming another number would be
    ignored without a word, and the text would reach someone the agent did not mean."""
    if contact is None or not contact.phone:
        return  # no contact, or one without a phone (the send says so)
    phone = normalise_phone(to or "")
    if phone is not None and phone.e164 != contact.phone:
        raise SwitchboardError(
            "conflicting_recipient",
            "to is not the phone number of the contact given as contact_id; give one of them.",
            field="to",
        )


def send_sms(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    """Check, price and queue one SMS. A dry run answers encoding, segments and price."""
    contact_id = payload.get("contact_id")
    contact = contact_service.get_contact(contact_id) if contact_id else None
    _check_one_recipient(contact, payload.get("to"))
    outcome = sms_service.send_sms(
        actor=actor,
        text=payload["message"],
        to=payload.get("to"),
        contact=contact,
        kind=payload.get("kind") or "transactional",
        schedule_at=payload.get("schedule_at"),
        dry_run=dry_run,
    )
    plan = outcome.plan
    if outcome.message is None:
        return Result(
            200,
            {
                "id": None,
                "status": "preview",
                "to": plan.to,
                "encoding": plan.encoding,
                "segments": plan.segments,
                "price": str(plan.price),
                "remaining_credits": str(plan.balance_after),
                "send_after": plan.send_after.isoformat() if plan.send_after else None,
            },
            credits=plan.price,
        )
    message = outcome.message
    body = message_data(message)
    body["remaining_credits"] = str(credit_service.get_balance())
    return Result(201, body, credits=message.price)


def start_verification(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    challenge = otp_service.start_verification(actor=actor, phone=payload["to"])
    price = challenge.message.price if challenge.message else 0
    return Result(
        201,
        {"to": challenge.phone, "status": "sent", "expires_at": challenge.expires_at.isoformat()},
        credits=price,
    )


def check_verification(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    verified = otp_service.check_verification(phone=payload["to"], code=payload["code"])
    return Result(200, {"verified": verified})


def start_import(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    """Queue an uploaded file (a draft job) with its options; the worker imports it."""
    job = ImportJob.objects.get(pk=payload["import_job_id"])
    job = import_service.configure_import(
        actor=actor,
        job=job,
        mapping=payload.get("mapping") or job.mapping,
        mode=payload.get("mode") or "upsert",
        list_ids=[payload["list_id"]] if payload.get("list_id") else [],
        default_region=payload.get("default_region") or "",
        dry_run=bool(payload.get("dry_run")),
        webhook_url=payload.get("webhook_url") or "",
    )
    return Result(202, import_data(job))


def _may_read_contacts(actor: Actor) -> bool:
    agent = Agent.objects.filter(pk=actor.ref).only("scopes").first() if actor.ref else None
    return agent is not None and agent.has_scope("contacts:read")


def start_campaign(*, actor: Actor, payload: dict[str, Any], dry_run: bool) -> Result:
    """Check, count, price and schedule a campaign; a dry run answers the screening only."""
    outcome = campaign_service.start_campaign(
        actor=actor,
        name=payload.get("name") or "",
        text=payload["message"],
        audience_kind=payload["audience_kind"],
        audience_id=payload["audience_id"],
        kind=payload.get("kind") or "marketing",
        schedule_mode=payload.get("schedule") or "now",
        send_at=payload.get("send_at"),
        time_zone=payload.get("time_zone") or "UTC",
        quiet_hours=payload.get("quiet_hours"),
        dry_run=dry_run,
    )
    if outcome.campaign is None:
        screening = outcome.screening
        preview = {"status": "preview", **screening.as_dict()}
        if not _may_read_contacts(actor):
            # Samples are contacts' names and numbers, and texts rendered with any of their
            # fields: not for an agent that may not read contacts.
            preview["samples"] = []
        return Result(200, preview, credits=screening.cost)
    return Result(201, campaign_data(outcome.campaign), credits=outcome.campaign.cost)


for spec in (
    ActionSpec("upsert_contact", "contacts:write", upsert_contact),
    ActionSpec("update_contact", "contacts:write", update_contact),
    ActionSpec("batch_upsert", "contacts:write", batch_upsert),
    ActionSpec("tag_contacts", "contacts:write", tag_contacts),
    ActionSpec("untag_contact", "contacts:write", untag_contact),
    ActionSpec("add_to_list", "contacts:write", add_to_list),
    ActionSpec("remove_from_list", "contacts:write", remove_from_list),
    ActionSpec("create_list", "contacts:write", create_list),
    ActionSpec("create_field", "contacts:write", create_field),
    ActionSpec("record_event", "contacts:write", record_contact_event),
    ActionSpec("create_segment", "contacts:write", create_segment),
    ActionSpec("erase_contact", "contacts:erase", erase_contact, gated=True, admin_approval=True),
    ActionSpec("send_sms", "sms:send", send_sms, gated=True, budgeted=True, editable="message"),
    ActionSpec("start_verification", "sms:send", start_verification, budgeted=True),
    ActionSpec("check_verification", "sms:send", check_verification, secret=("code",)),
    ActionSpec("start_import", "imports:write", start_import),
    ActionSpec(
        "start_campaign",
        "campaigns:send",
        start_campaign,
        gated=True,
        budgeted=True,
        editable="message",
    ),
):
    register(spec)
