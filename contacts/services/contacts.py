"""Creating, updating and upserting contacts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.models import Consent, Contact, ContactList, InteractionKind
from contacts.phones import normalise_phone
from contacts.services import fields as field_service
from contacts.services import lists as list_service
from contacts.services import tags as tag_service
from contacts.services.history import Trail
from contacts.services.normalise import clean_name, normalise_email, search_key
from contacts.services.suppression import suppression_reason
from dashboard import audit, jsonvalues
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
METADATA_MAX_BYTES = 64 * 1024
AUDITED = (
    "email", "phone", "first_name", "last_name", "email_consent", "sms_consent", "unsubscribed_at", "metadata",
)  # fmt: skip


def get_contact(contact_id: uuid.UUID | str) -> Contact:
    """The contact with that id, or ``unknown_contact``."""
    try:
        return Contact.objects.get(pk=uuid.UUID(str(contact_id)))
    except (Contact.DoesNotExist, ValueError):
        raise SwitchboardError(
            "unknown_contact", f"There is no contact with id {contact_id}."
        ) from None


def merge_metadata(current: Mapping[str, Any], patch: Mapping[str, Any] | None) -> dict[str, Any]:
    """New keys are added, given keys overwritten, keys given as ``None`` removed."""
    if patch is None:
        return dict(current)
    if not isinstance(patch, Mapping):
        raise SwitchboardError(
            "invalid_metadata", "Metadata must be a JSON object.", field="metadata"
        )
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(str(key), None)
        else:
            merged[str(key)] = value
    if problem := jsonvalues.unstorable(patch):
        raise SwitchboardError(
            "invalid_metadata", f"Metadata cannot hold {problem[1]}.", field="metadata"
        )
    if len(json.dumps(merged, default=str)) > METADATA_MAX_BYTES:
        raise SwitchboardError(
            "invalid_metadata",
            f"Metadata is limited to {METADATA_MAX_BYTES // 1024} KB.",
            field="metadata",
        )
    return merged


def _clean_consent(value: str, field: str) -> str:
    if value not in Consent.values:
        raise SwitchboardError(
            "invalid_consent",
            f"Consent is one of {', '.join(Consent.values)}; got “{value}”.",
            field=field,
        )
    return value


def _check_email_free(email: str, *, exclude: uuid.UUID | None = None) -> None:
    clash = Contact.objects.filter(email=email)
    if exclude:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise SwitchboardError(
            "duplicate_email", f"Another contact already uses {email}.", field="email", email=email
        )


def _snapshot(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in AUDITED}


def _resolve_lists(list_ids: Iterable[int] | None) -> list[ContactList]:
    return [list_service.get_list(list_id) for list_id in (list_ids or [])]


@transaction.atomic
def create_contact(
    *,
    actor: Actor,
    email: str,
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    email_consent: str = Consent.UNKNOWN,
    sms_consent: str = Consent.UNKNOWN,
    metadata: Mapping[str, Any] | None = None,
    fields: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
    list_ids: Iterable[int] | None = None,
    default_region: str | None = None,
) -> Contact:
    return _create(
        actor=actor,
        email=normalise_email(email),
        phone=phone,
        first_name=first_name,
        last_name=last_name,
        email_consent=email_consent,
        sms_consent=sms_consent,
        metadata=metadata,
        fields=fields,
        tags=tags,
        list_ids=list_ids,
        default_region=default_region,
    )


def _create(
    *,
    actor: Actor,
    email: str,
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    email_consent: str = Consent.UNKNOWN,
    sms_consent: str = Consent.UNKNOWN,
    metadata: Mapping[str, Any] | None = None,
    fields: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
    list_ids: Iterable[int] | None = None,
    default_region: str | None = None,
    email_checked: bool = False,
) -> Contact:
    """Create from a normalised email, inside the caller's transaction. ``email_checked``: the
    caller has just looked for a contact with this email in this transaction and found none."""
    number = normalise_phone(phone, region=default_region)
    first_name = clean_name(first_name, field="first_name")
    last_name = clean_name(last_name, field="last_name")
    # Validate everything before the first write, so a bad value leaves nothing behind.
    resolved = field_service.resolve_values(fields or {})
    lists = _resolve_lists(list_ids)
    tag_names = [tag_service.clean_tag_name(name) for name in tags]
    if not email_checked:
        _check_email_free(email)
    if reason := suppression_reason(email=email, phone=number.e164 if number else ""):
        raise SwitchboardError(
            "suppressed",
            "This person was erased or permanently unsubscribed and cannot be added again.",
            field="email",
            reason=reason,
        )

    now = timezone.now()
    contact = Contact(
        email=email,
        phone=number.e164 if number else "",
        phone_country=number.region if number else "",
        phone_type=number.type if number else "",
        first_name=first_name,
        last_name=last_name,
        first_name_key=search_key(first_name),
        last_name_key=search_key(last_name),
        email_consent=_clean_consent(email_consent, "email_consent"),
        sms_consent=_clean_consent(sms_consent, "sms_consent"),
        metadata=merge_metadata({}, metadata),
        source=actor.kind,
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():
            contact.save(force_insert=True)
    except IntegrityError:  # lost a race with a concurrent insert of the same email
        raise SwitchboardError(
            "duplicate_email", f"Another contact already uses {email}.", field="email", email=email
        ) from None

    changes = audit.diff({}, _snapshot(contact))
    changes.update(field_service.apply_values(contact, resolved))
    trail = Trail()
    trail.audit(
        actor=actor, action="contact.create", obj=contact, contact_id=contact.pk, changes=changes
    )
    trail.history(
        contact=contact, actor=actor, kind=InteractionKind.CREATED, description="Contact created"
    )
    tag_service.apply_tags(actor=actor, contact=contact, names=tag_names, trail=trail, fresh=True)
    trail.write()
    for contact_list in lists:
        list_service.add_to_list(actor=actor, contact=contact, contact_list=contact_list)
    return contact


def _lock(contact_id: Any) -> Contact:
    try:
        return Contact.objects.select_for_update().get(pk=contact_id)
    except (Contact.DoesNotExist, ValidationError, ValueError, TypeError):  # absent or malformed id
        raise SwitchboardError(
            "unknown_contact", f"There is no contact with id {contact_id}."
        ) from None


@transaction.atomic
def update_contact(
    *,
    actor: Actor,
    contact: Contact | uuid.UUID | str,
    expected_version: int | None = None,
    email: str | _Unset = UNSET,
    phone: str | _Unset = UNSET,
    first_name: str | _Unset = UNSET,
    last_name: str | _Unset = UNSET,
    email_consent: str | _Unset = UNSET,
    sms_consent: str | _Unset = UNSET,
    unsubscribed: bool | _Unset = UNSET,
    metadata: Mapping[str, Any] | None | _Unset = UNSET,
    fields: Mapping[str, Any] | _Unset = UNSET,
    tags: Iterable[str] | _Unset = UNSET,
    list_ids: Iterable[int] | _Unset = UNSET,
    default_region: str | None = None,
) -> Contact:
    """Change the given attributes only. ``metadata`` is merged; ``tags``/``list_ids`` are added.

    ``expected_version`` is the version the editor started from: if someone saved in between,
    the update is refused with ``edit_conflict`` instead of silently overwriting their change.
    """
    locked = _lock(contact.pk if isinstance(contact, Contact) else contact)
    return _update(
        actor=actor,
        locked=locked,
        expected_version=expected_version,
        email=email,
        phone=phone,
        first_name=first_name,
        last_name=last_name,
        email_consent=email_consent,
        sms_consent=sms_consent,
        unsubscribed=unsubscribed,
        metadata=metadata,
        fields=fields,
        tags=tags,
        list_ids=list_ids,
        default_region=default_region,
    )


def _update(
    *,
    actor: Actor,
    locked: Contact,
    expected_version: int | None = None,
    email: str | _Unset = UNSET,
    phone: str | _Unset = UNSET,
    first_name: str | _Unset = UNSET,
    last_name: str | _Unset = UNSET,
    email_consent: str | _Unset = UNSET,
    sms_consent: str | _Unset = UNSET,
    unsubscribed: bool | _Unset = UNSET,
    metadata: Mapping[str, Any] | None | _Unset = UNSET,
    fields: Mapping[str, Any] | _Unset = UNSET,
    tags: Iterable[str] | _Unset = UNSET,
    list_ids: Iterable[int] | _Unset = UNSET,
    default_region: str | None = None,
) -> Contact:
    """``update_contact`` on a row the caller locked (select_for_update) in its transaction."""
    if expected_version is not None and locked.version != expected_version:
        recent = AuditEntry.objects.filter(contact_id=locked.pk).order_by("-at", "-id")
        # Name whoever else changed it, not the editor's own later save of another section.
        mine = {"actor_kind": actor.kind, "actor_user_id": actor.user_id, "actor_ref": actor.ref}
        last = recent.exclude(**mine).first() or recent.first()
        who = f" by {last.actor_label}" if last else ""
        raise SwitchboardError(
            "edit_conflict",
            f"This contact was changed{who} while you were editing. "
            "Reload to see the latest values, then make your change again.",
            current_version=locked.version,
        )

    before = _snapshot(locked)
    if not isinstance(email, _Unset):
        locked.email = normalise_email(email)
        if locked.email != before["email"]:
            _check_email_free(locked.email, exclude=locked.pk)
    if not isinstance(phone, _Unset):
        number = normalise_phone(phone, region=default_region)
        locked.phone = number.e164 if number else ""
        locked.phone_country = number.region if number else ""
        locked.phone_type = number.type if number else ""
    if not isinstance(first_name, _Unset):
        locked.first_name = clean_name(first_name, field="first_name")
        locked.first_name_key = search_key(locked.first_name)
    if not isinstance(last_name, _Unset):
        locked.last_name = clean_name(last_name, field="last_name")
        locked.last_name_key = search_key(locked.last_name)
    if not isinstance(email_consent, _Unset):
        locked.email_consent = _clean_consent(email_consent, "email_consent")
    if not isinstance(sms_consent, _Unset):
        locked.sms_consent = _clean_consent(sms_consent, "sms_consent")
    if not isinstance(unsubscribed, _Unset):
        if unsubscribed and locked.unsubscribed_at is None:
            locked.unsubscribed_at = timezone.now()
        elif not unsubscribed:
            locked.unsubscribed_at = None
    if not isinstance(metadata, _Unset):
        locked.metadata = merge_metadata(locked.metadata, metadata)
    resolved = field_service.resolve_values(fields) if not isinstance(fields, _Unset) else {}
    lists = _resolve_lists(list_ids) if not isinstance(list_ids, _Unset) else []
    tag_names = (
        [tag_service.clean_tag_name(n) for n in tags] if not isinstance(tags, _Unset) else []
    )

    changes = audit.diff(before, _snapshot(locked))
    if changes:
        locked.updated_at = timezone.now()
        locked.version += 1
        email_changed = locked.email != before["email"]
        try:
            # The email is the one unique column: only a changed one can clash.
            with transaction.atomic() if email_changed else nullcontext():
                locked.save(
                    update_fields=[
                        *AUDITED,
                        "phone_country",
                        "phone_type",
                        "first_name_key",
                        "last_name_key",
                        "updated_at",
                        "version",
                    ]  # fmt: skip
                )
        except IntegrityError:
            if not email_changed:  # not a clash: saying "another contact uses it" would mislead
                raise
            raise SwitchboardError(
                "duplicate_email", f"Another contact already uses {locked.email}.", field="email"
            ) from None
    field_changes = field_service.apply_values(locked, resolved)
    if field_changes and not changes:
        locked.updated_at = timezone.now()
        locked.version += 1
        locked.save(update_fields=["updated_at", "version"])
    changes.update(field_changes)
    trail = Trail()
    if changes:
        trail.audit(
            actor=actor, action="contact.update", obj=locked, contact_id=locked.pk, changes=changes
        )
        unsubscribed_now = "unsubscribed_at" in changes and locked.unsubscribed_at is not None
        trail.history(
            contact=locked,
            actor=actor,
            kind=InteractionKind.UNSUBSCRIBED if unsubscribed_now else InteractionKind.UPDATED,
            description="Changed " + ", ".join(k.removeprefix("field:") for k in changes),
        )
    tag_service.apply_tags(actor=actor, contact=locked, names=tag_names, trail=trail, fresh=False)
    trail.write()
    for contact_list in lists:
        list_service.add_to_list(actor=actor, contact=locked, contact_list=contact_list)
    return locked


@transaction.atomic
def upsert_contact(*, actor: Actor, email: str, **attrs: Any) -> tuple[Contact, bool]:
    """Update the contact with this email (any letter case) or create it. Returns (contact, created)."""
    normalised = normalise_email(email)
    existing = Contact.objects.select_for_update().filter(email=normalised).first()
    if existing is None:
        try:
            return _create(actor=actor, email=normalised, email_checked=True, **attrs), True
        except SwitchboardError as exc:
            if exc.code != "duplicate_email":
                raise
            # A concurrent upsert created it first: fall through and update it.
            existing = _lock(Contact.objects.values_list("pk", flat=True).get(email=normalised))
    attrs = {key: value for key, value in attrs.items() if value is not None or key == "metadata"}
    return _update(actor=actor, locked=existing, **attrs), False
