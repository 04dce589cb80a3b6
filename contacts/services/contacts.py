"""Creating, updating and upserting contacts.

A contact write is two batches of statements (``dashboard.db.batch``): first everything it
needs to know (the contact, locked; its tags, lists and field values; the tags and fields
the request names; whether the person is suppressed), then everything it writes (the contact,
its values and tags, the audit trail and the history). On PostgreSQL each batch is one round
trip, whatever the request holds: agents' upserts are the busiest write path in Switchboard.
Joining lists goes through ``lists.add_to_list``, which locks the list for its size limit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contacts.models import (
    Consent,
    Contact,
    ContactList,
    ContactTag,
    Field,
    FieldValue,
    InteractionKind,
    ListMembership,
    Suppression,
    SuppressionKind,
    Tag,
)
from contacts.phones import Phone, normalise_phone
from contacts.services import fields as field_service
from contacts.services import lists as list_service
from contacts.services import tags as tag_service
from contacts.services.history import Trail
from contacts.services.normalise import clean_name, normalise_email, search_key
from contacts.services.suppression import suppression_hash
from dashboard import audit, jsonvalues
from dashboard.actors import Actor, ActorKind
from dashboard.db import batch
from dashboard.db.batch import Statement
from dashboard.db.rows import table_of
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from dashboard.uuids import uuid7


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
METADATA_MAX_BYTES = 64 * 1024
AUDITED = (
    "email", "phone", "first_name", "last_name", "email_consent", "sms_consent", "unsubscribed_at", "metadata",
)  # fmt: skip
# Columns written with the audited ones: derived from them, so not audited themselves.
DERIVED = ("phone_country", "phone_type", "first_name_key", "last_name_key")
COLUMNS = tuple(f.attname for f in Contact._meta.concrete_fields)
VALUE_COLUMNS = ("value_text", "value_number", "value_date", "value_bool")


def get_contact(contact_id: uuid.UUID | str) -> Contact:
    """The contact with that id, or ``unknown_contact``."""
    try:
        return Contact.objects.get(pk=uuid.UUID(str(contact_id)))
    except (Contact.DoesNotExist, ValueError):
        raise _unknown(contact_id) from None


def _unknown(contact_id: Any) -> SwitchboardError:
    return SwitchboardError("unknown_contact", f"There is no contact with id {contact_id}.")


def merge_metadata(current: Mapping[str, Any], patch: Mapping[str, Any] | None) -> dict[str, Any]:
    """New keys are added, given keys overwritten, keys given as ``None`` removed: top-level
    keys only. A nested object replaces the stored value whole (the staff form sets one key to
    the JSON typed, nulls inside included), as the API documents."""
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


def _duplicate(email: str) -> SwitchboardError:
    return SwitchboardError(
        "duplicate_email", f"Another contact already uses {email}.", field="email", email=email
    )


def _snapshot(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in AUDITED}


# --- What a write leaves the contact with ------------------------------------------------------


@dataclass
class Related:
    """A contact's tags, lists and custom field values as a write left them (what the API
    answers with, so it need not read them again)."""

    tags: dict[int, str] = field(default_factory=dict)  # tag id -> name as stored
    list_ids: set[int] = field(default_factory=set)
    values: dict[int, tuple[str, Any]] = field(default_factory=dict)  # field id -> (name, value)


# --- The request, checked before anything is read -------------------------------------------


@dataclass
class _Request:
    """The attributes a caller asked to set, validated and normalised (UNSET: left alone)."""

    email: str | _Unset = UNSET
    phone: Phone | None | _Unset = UNSET
    first_name: str | _Unset = UNSET
    last_name: str | _Unset = UNSET
    email_consent: str | _Unset = UNSET
    sms_consent: str | _Unset = UNSET
    unsubscribed: bool | _Unset = UNSET
    metadata: Mapping[str, Any] | None | _Unset = UNSET
    fields: Mapping[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    list_ids: list[Any] = field(default_factory=list)

    @classmethod
    def check(
        cls,
        *,
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
    ) -> _Request:
        request = cls()
        if not isinstance(email, _Unset):
            request.email = normalise_email(email)
        if not isinstance(phone, _Unset):
            request.phone = normalise_phone(phone, region=default_region)
        if not isinstance(first_name, _Unset):
            request.first_name = clean_name(first_name, field="first_name")
        if not isinstance(last_name, _Unset):
            request.last_name = clean_name(last_name, field="last_name")
        if not isinstance(email_consent, _Unset):
            request.email_consent = _clean_consent(email_consent, "email_consent")
        if not isinstance(sms_consent, _Unset):
            request.sms_consent = _clean_consent(sms_consent, "sms_consent")
        request.unsubscribed = unsubscribed
        if not isinstance(metadata, _Unset):
            merge_metadata({}, metadata)  # refuses what no merge could store, before any read
            request.metadata = metadata
        if not isinstance(fields, _Unset) and fields:
            request.fields = fields
        if not isinstance(tags, _Unset):
            # The same tag named twice ("vip", "VIP") is applied once, as first spelled.
            spelled: dict[str, str] = {}
            for index, name in enumerate(tags):
                name = tag_service.clean_tag_name(name, field=f"tags[{index}]")
                spelled.setdefault(name.lower(), name)
            request.tags = list(spelled.values())
        if not isinstance(list_ids, _Unset):
            request.list_ids = list(dict.fromkeys(list_ids))
        return request

    def values(self, contact: Contact) -> dict[str, Any]:
        """The contact's columns after this request (audited ones and those derived)."""
        after = {name: getattr(contact, name) for name in (*AUDITED, *DERIVED)}
        if not isinstance(self.email, _Unset):
            after["email"] = self.email
        if not isinstance(self.phone, _Unset):
            number = self.phone
            after["phone"] = number.e164 if number else ""
            after["phone_country"] = number.region if number else ""
            after["phone_type"] = number.type if number else ""
        for name in ("first_name", "last_name"):
            value = getattr(self, name)
            if not isinstance(value, _Unset):
                after[name] = value
                after[f"{name}_key"] = search_key(value)
        for name in ("email_consent", "sms_consent"):
            value = getattr(self, name)
            if not isinstance(value, _Unset):
                after[name] = value
        if not isinstance(self.unsubscribed, _Unset):
            if self.unsubscribed and contact.unsubscribed_at is None:
                after["unsubscribed_at"] = timezone.now()
            elif not self.unsubscribed:
                after["unsubscribed_at"] = None
        if not isinstance(self.metadata, _Unset):
            after["metadata"] = merge_metadata(contact.metadata, self.metadata)
        return after


# --- Reading what a write needs: one batch ----------------------------------------------------


@dataclass
class _Known:
    contact: Contact | None
    related: Related
    tags: dict[str, tuple[int, str]]  # requested name -> (id, name as stored)
    fields: dict[str, Field]  # requested name -> definition
    suppressed: str | None = None  # why, when the request's email or phone is suppressed
    suppressed_kinds: set[str] = field(default_factory=set)  # which of the two is
    email_owner: uuid.UUID | None = None  # who holds the requested email, if anyone


# The value columns' types come from the first branch (PostgreSQL types a NULL by its column).
_RELATED_SQL = """
SELECT 'f', value.field_id, field.name, value.value_text, value.value_number, value.value_date,
       value.value_bool
FROM {values} value JOIN {fields} field ON field.id = value.field_id WHERE value.contact_id = {who}
UNION ALL
SELECT 't', link.tag_id, tag.name, NULL, NULL, NULL, NULL
FROM {contact_tags} link JOIN {tags} tag ON tag.id = link.tag_id WHERE link.contact_id = {who}
UNION ALL
SELECT 'l', membership.list_id, NULL, NULL, NULL, NULL, NULL
FROM {memberships} membership WHERE membership.contact_id = {who}
"""

# Names matched as the unique indexes on LOWER(name) match them (see NamedQuerySet).
_NAMED_SQL = (
    "SELECT wanted.column1, named.{id}, named.{name}{more} FROM (VALUES {wanted}) wanted "
    "JOIN {table} named ON LOWER(named.{name}) = LOWER(wanted.column1)"
)


def _named(model: type[Tag] | type[Field], names: Sequence[str], more: str = "") -> Statement:
    table = table_of(model)
    sql = _NAMED_SQL.format(
        id=table.q("id"),
        name=table.q("name"),
        more=more,
        wanted=", ".join(["(%s)"] * len(names)),
        table=table.name,
    )
    return Statement(sql, list(names))


def _read(
    request: _Request,
    *,
    email: str | None = None,
    contact_id: Any = None,
    suppression: tuple[str, str] | None = None,
) -> _Known:
    """The contact (by email or id, locked for the rest of the transaction) and what the
    request needs to be checked against, in one batch."""
    contacts = table_of(Contact)
    if contact_id is not None:
        where, key = f"{contacts.q('id')} = %s", contacts.prep("id", contact_id)
        who = "%s"
    else:
        where, key = f"{contacts.q('email')} = %s", email
        who = f"(SELECT {contacts.q('id')} FROM {contacts.name} WHERE {contacts.q('email')} = %s)"  # noqa: S608
    statements = [
        contacts.select(COLUMNS, where, [key], lock=True),
        Statement(
            _RELATED_SQL.format(
                who=who,
                contact_tags=table_of(ContactTag).name,
                tags=table_of(Tag).name,
                memberships=table_of(ListMembership).name,
                values=table_of(FieldValue).name,
                fields=table_of(Field).name,
            ),
            [key, key, key],
        ),
    ]
    wanted = {}
    if request.tags:
        wanted["tags"] = len(statements)
        statements.append(_named(Tag, request.tags))
    if request.fields:
        wanted["fields"] = len(statements)
        fields = table_of(Field)
        more = f", named.{fields.q('type')}, named.{fields.q('created_at')}"
        statements.append(_named(Field, [str(n).strip() for n in request.fields], more))
    if suppression and any(suppression):
        wanted["suppression"] = len(statements)
        suppressions = table_of(Suppression)
        pairs = [(k, v) for k, v in zip(SuppressionKind, suppression, strict=True) if v]
        statements.append(
            suppressions.select(
                ["kind", "reason"],
                " OR ".join(f"({suppressions.q('kind')} = %s AND {suppressions.q('value_hash')} = %s)" for _ in pairs),
                [p for kind, value in pairs for p in (str(kind), suppression_hash(kind, value))],
            )
        )  # fmt: skip
    if isinstance(request.email, str) and contact_id is not None:
        wanted["email"] = len(statements)
        statements.append(contacts.select(["id"], f"{contacts.q('email')} = %s", [request.email]))
    results = batch.run(statements)

    rows = results[0]
    contact = contacts.load(COLUMNS, rows[0]) if rows else None
    related = Related()
    if contact is not None:
        values = table_of(FieldValue)
        for kind, ident, name, *stored in results[1]:
            if kind == "t":
                related.tags[ident] = name
            elif kind == "l":
                related.list_ids.add(ident)
            else:
                typed = values.values(VALUE_COLUMNS, stored)
                related.values[ident] = (name, next((v for v in typed if v is not None), None))
    known = _Known(contact=contact, related=related, tags={}, fields={})
    for wanted_name, ident, name in results[wanted["tags"]] if "tags" in wanted else ():
        known.tags[wanted_name] = (ident, name)
    if "fields" in wanted:
        fields = table_of(Field)
        for wanted_name, *row in results[wanted["fields"]]:
            known.fields[wanted_name] = fields.load(["id", "name", "type", "created_at"], row)
    if "suppression" in wanted:
        reasons = dict(results[wanted["suppression"]])
        known.suppressed = reasons.get(SuppressionKind.EMAIL) or reasons.get(SuppressionKind.PHONE)
        known.suppressed_kinds = set(reasons)
    if "email" in wanted and results[wanted["email"]]:
        known.email_owner = contacts.values(["id"], results[wanted["email"]][0])[0]
    return known


def _resolve_fields(request: _Request, known: _Known) -> dict[Field, Any]:
    resolved: dict[Field, Any] = {}
    for name, raw in request.fields.items():
        definition = known.fields.get(str(name).strip())
        if definition is None:
            raise SwitchboardError(
                "unknown_field", f"There is no custom field named “{name}”.", field=name
            )
        resolved[definition] = field_service.parse_value(definition, raw)
    return resolved


def _resolve_lists(list_ids: Iterable[Any]) -> list[ContactList]:
    return [list_service.get_list(list_id) for list_id in list_ids]


# --- Writing: one batch -------------------------------------------------------------------------


class _Writes:
    """The statements of one contact write, and its audit trail and history."""

    def __init__(self, actor: Actor, contact: Contact, related: Related):
        self.actor = actor
        self.contact = contact
        self.related = related
        self.statements: list[Statement] = []
        self.trail = Trail()

    def values(self, resolved: Mapping[Field, Any]) -> dict[str, list[Any]]:
        """Set, change or clear custom field values; the audit diff of those that change."""
        changes: dict[str, list[Any]] = {}
        upserts, cleared = [], []
        for definition, value in resolved.items():
            before = self.related.values.get(definition.pk, (None, None))[1]
            if before == value:
                continue
            changes[f"field:{definition.name}"] = [audit.jsonable(before), audit.jsonable(value)]
            if value is None:
                cleared.append(definition.pk)
                self.related.values.pop(definition.pk, None)
                continue
            row = dict.fromkeys(VALUE_COLUMNS)
            row.update(contact_id=self.contact.pk, field_id=definition.pk)
            row[definition.value_column] = value
            upserts.append(row)
            self.related.values[definition.pk] = (definition.name, value)
        values = table_of(FieldValue)
        if upserts:
            self.statements.append(
                values.insert(upserts, on_conflict=("contact_id", "field_id"), update=VALUE_COLUMNS)
            )
        if cleared:
            self.statements.append(
                Statement(
                    f"DELETE FROM {values.name} WHERE {values.q('contact_id')} = %s "  # noqa: S608
                    f"AND {values.q('field_id')} IN ({', '.join(['%s'] * len(cleared))})",
                    [values.prep("contact_id", self.contact.pk), *cleared],
                )
            )
        return changes

    def tags(self, names: Sequence[str], known: _Known) -> None:
        """Apply tags by name (creating those that do not exist yet) that the contact lacks."""
        added: list[tuple[int, str]] = []
        for name in names:
            found = known.tags.get(name)
            if found is None:
                tag = tag_service.get_or_create_tag(actor=self.actor, name=name, trail=self.trail)
                found = (tag.pk, tag.name)
            if found[0] not in self.related.tags and found not in added:
                added.append(found)
        if not added:
            return
        now = timezone.now()
        self.statements.append(
            table_of(ContactTag).insert(
                [{"contact_id": self.contact.pk, "tag_id": ident, "added_at": now}
                 for ident, _ in added],
                # Someone tagging the contact meanwhile (the tag endpoint does not lock it).
                on_conflict=("contact_id", "tag_id"),
            )
        )  # fmt: skip
        for ident, name in added:
            self.related.tags[ident] = name
            self.audit("contact.tag", {"tags": [None, name]})
            self.history(InteractionKind.TAGGED, f"Tagged {name}")

    def audit(self, action: str, changes: dict[str, Any]) -> None:
        self.trail.audit(
            actor=self.actor, action=action, obj=self.contact, contact_id=self.contact.pk,
            changes=changes,
        )  # fmt: skip

    def history(self, kind: InteractionKind, description: str) -> None:
        self.trail.history(
            contact=self.contact, actor=self.actor, kind=kind, description=description
        )

    def send(self) -> None:
        batch.run([*self.statements, *self.trail.statements()])

    def join_lists(self, lists: Sequence[ContactList]) -> None:
        for contact_list in lists:
            if list_service.add_to_list(
                actor=self.actor, contact=self.contact, contact_list=contact_list
            ):
                self.related.list_ids.add(contact_list.pk)


def _is_email_clash(exc: IntegrityError) -> bool:
    """Whether a failed write broke the unique index on contacts' emails."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    if diag is not None:  # PostgreSQL: the constraint and table are named
        return (
            diag.table_name == Contact._meta.db_table and getattr(cause, "sqlstate", "") == "23505"
        )
    return f"{Contact._meta.db_table}.email" in str(exc)


_CONTACT_INSERT_SAVEPOINT = "contact_insert"


def _insert(
    *, actor: Actor, email: str, request: _Request, known: _Known, resolved: dict[Field, Any],
    lists: Sequence[ContactList],
) -> Contact:  # fmt: skip
    """Create the contact; ``_LostRace`` when another transaction stored its email first."""
    now = timezone.now()
    blank = Contact(email=email)
    after = request.values(blank)
    contact = Contact(
        id=uuid7(), **after, source=actor.kind, created_at=now, updated_at=now, version=1
    )
    writes = _Writes(actor, contact, Related())
    changes = audit.diff({}, _snapshot(contact))
    writes.statements.append(
        table_of(Contact).insert([{name: getattr(contact, name) for name in COLUMNS}])
    )
    changes.update(writes.values(resolved))
    writes.audit("contact.create", changes)
    writes.history(InteractionKind.CREATED, "Contact created")
    writes.tags(request.tags, known)
    # Another transaction may store the same email between our look-up and this INSERT where
    # writers run side by side (PostgreSQL; SQLite's write lock, held since BEGIN, rules it
    # out): there the INSERT runs in a savepoint of its own, sent in the same batch, so losing
    # that race undoes nothing else.
    savepoint = connection.ops.quote_name(_CONTACT_INSERT_SAVEPOINT)
    racing = connection.features.has_select_for_update
    if racing:
        writes.statements[:1] = [
            Statement(f"SAVEPOINT {savepoint}"),
            writes.statements[0],
            Statement(f"RELEASE SAVEPOINT {savepoint}"),
        ]
    try:
        writes.send()
    except IntegrityError as exc:
        if not _is_email_clash(exc):
            raise
        if racing:
            batch.run([Statement(f"ROLLBACK TO SAVEPOINT {savepoint}")])
        raise _LostRace from None  # (elsewhere the INSERT, written first, failed alone)
    contact._state.adding, contact._state.db = False, connection.alias  # as saved by the ORM
    writes.join_lists(lists)
    contact.related = writes.related
    return contact


class _LostRace(Exception):
    """A concurrent transaction created the contact with this email first."""


def _update(
    *, actor: Actor, known: _Known, request: _Request, resolved: dict[Field, Any],
    lists: Sequence[ContactList], expected_version: int | None = None,
) -> Contact:  # fmt: skip
    contact = known.contact
    assert contact is not None
    if expected_version is not None and contact.version != expected_version:
        raise _conflict(actor, contact)
    if (
        isinstance(request.email, str)
        and known.email_owner is not None
        and known.email_owner != contact.pk
    ):
        raise _duplicate(request.email)
    # A permanent unsubscribe is the person's decision; an agent echoing a stale
    # "unsubscribed": false back must not quietly put them back on every campaign.
    resubscribing = request.unsubscribed is False and contact.unsubscribed_at is not None
    if resubscribing and actor.kind == ActorKind.AGENT:
        raise SwitchboardError(
            "unsubscribed",
            f"{contact} unsubscribed permanently; only staff can undo that.",
            field="unsubscribed",
        )
    before = _snapshot(contact)
    after = request.values(contact)
    # An edit must not bring back an erased person's address or number either: only a value
    # that changes counts (another contact may share an erased person's landline already).
    for kind in known.suppressed_kinds:
        if after[kind] != getattr(contact, kind):
            _refuse_suppressed(known, field=kind)
    for name, value in after.items():
        setattr(contact, name, value)
    writes = _Writes(actor, contact, known.related)
    changes = audit.diff(before, _snapshot(contact))
    field_changes = writes.values(resolved)
    if changes or field_changes:
        contact.updated_at = timezone.now()
        contact.version += 1
        writes.statements.insert(
            0,
            table_of(Contact).update(
                contact.pk,
                {**after, "updated_at": contact.updated_at, "version": contact.version},
            ),
        )
    changes.update(field_changes)
    if changes:
        writes.audit("contact.update", changes)
        unsubscribed_now = "unsubscribed_at" in changes and contact.unsubscribed_at is not None
        writes.history(
            InteractionKind.UNSUBSCRIBED if unsubscribed_now else InteractionKind.UPDATED,
            "Changed " + ", ".join(k.removeprefix("field:") for k in changes),
        )
    writes.tags(request.tags, known)
    try:
        writes.send()
    except IntegrityError as exc:
        # Another transaction stored this email since our look-up.
        if "email" in changes and _is_email_clash(exc):
            raise _duplicate(contact.email) from None
        raise
    writes.join_lists(lists)
    contact.related = writes.related
    return contact


def _conflict(actor: Actor, contact: Contact) -> SwitchboardError:
    entries = AuditEntry.objects.filter(contact_id=contact.pk)
    who = audit.last_changed_by(entries=entries, editor=actor)
    return SwitchboardError(
        "edit_conflict",
        f"This contact was changed{who} while you were editing. "
        "Reload to see the latest values, then make your change again.",
        current_version=contact.version,
    )


# --- The services -------------------------------------------------------------------------------


def _suppression_keys(email: str, request: _Request) -> tuple[str, str]:
    phone = request.phone.e164 if isinstance(request.phone, Phone) else ""
    return email, phone


def _refuse_suppressed(known: _Known, field: str = "email") -> None:
    if known.suppressed:
        raise SwitchboardError(
            "suppressed",
            "This person was erased or permanently unsubscribed and cannot be added again.",
            field=field,
            reason=known.suppressed,
        )


def _create_checked(actor: Actor, email: str, request: _Request, known: _Known) -> Contact:
    _refuse_suppressed(known)
    resolved = _resolve_fields(request, known)
    lists = _resolve_lists(request.list_ids)
    return _insert(
        actor=actor, email=email, request=request, known=known, resolved=resolved, lists=lists
    )


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
    normalised = normalise_email(email)
    request = _Request.check(
        phone=phone, first_name=first_name, last_name=last_name, email_consent=email_consent,
        sms_consent=sms_consent, metadata=metadata, fields=fields or {}, tags=tags,
        list_ids=list_ids or (), default_region=default_region,
    )  # fmt: skip
    known = _read(request, email=normalised, suppression=_suppression_keys(normalised, request))
    if known.contact is not None:
        raise _duplicate(normalised)
    try:
        return _create_checked(actor, normalised, request, known)
    except _LostRace:
        raise _duplicate(normalised) from None


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
    contact_id = contact.pk if isinstance(contact, Contact) else contact
    try:
        contact_id = uuid.UUID(str(contact_id))
    except ValueError:
        raise _unknown(contact_id) from None
    request = _Request.check(
        email=email, phone=phone, first_name=first_name, last_name=last_name,
        email_consent=email_consent, sms_consent=sms_consent, unsubscribed=unsubscribed,
        metadata=metadata, fields=fields, tags=tags, list_ids=list_ids,
        default_region=default_region,
    )  # fmt: skip
    wanted_email = request.email if isinstance(request.email, str) else ""
    known = _read(
        request, contact_id=contact_id, suppression=_suppression_keys(wanted_email, request)
    )
    if known.contact is None:
        raise _unknown(contact_id)
    return _update(
        actor=actor, known=known, request=request, resolved=_resolve_fields(request, known),
        lists=_resolve_lists(request.list_ids), expected_version=expected_version,
    )  # fmt: skip


@transaction.atomic
def upsert_contact(*, actor: Actor, email: str, **attrs: Any) -> tuple[Contact, bool]:
    """Update the contact with this email (any letter case) or create it. Returns (contact, created)."""
    normalised = normalise_email(email)
    default_region = attrs.pop("default_region", None)
    given = {key: value for key, value in attrs.items() if value is not None or key == "metadata"}
    request = _Request.check(**given, default_region=default_region)
    known = _read(request, email=normalised, suppression=_suppression_keys(normalised, request))
    if known.contact is None:
        try:
            return _create_checked(actor, normalised, request, known), True
        except _LostRace:
            # A concurrent upsert created it first: update theirs.
            known = _read(request, email=normalised)
    return _update(
        actor=actor, known=known, request=request, resolved=_resolve_fields(request, known),
        lists=_resolve_lists(request.list_ids),
    ), False  # fmt: skip
