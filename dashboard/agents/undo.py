"""Undo what an agent did: replay its audit entries backwards through the contacts services.

One action's entries are found by their ``agent_action_id``; a time window takes every entry
the agent wrote in it. A contact somebody else changed after the agent did is a conflict: it is
shown in the preview and left alone unless the staff member confirms. Texts already sent cannot
be unsent; the plan says so.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Min, QuerySet

from contacts.models import Contact, ContactList
from contacts.services import contacts as contact_service
from contacts.services import lists as list_service
from contacts.services import tags as tag_service
from dashboard import audit
from dashboard.actors import Actor
from dashboard.agents.models import Agent, AgentAction, ApprovalRequest
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from sms.models import Message

REVERSIBLE = {
    "contact.create", "contact.update", "contact.tag", "contact.untag", "contact.list_add",
    "contact.list_remove",
}  # fmt: skip
RESTORABLE = {"email", "phone", "first_name", "last_name", "email_consent", "sms_consent"}


@dataclass
class ContactUndo:
    """Everything to undo on one contact, newest change first."""

    contact_id: uuid.UUID
    label: str
    entries: list[AuditEntry]
    exists: bool = True
    # The later change by someone else that makes this a conflict: "sam at 12 Nov 14:03".
    changed_by: str = ""
    changed_at: dt.datetime | None = None

    @property
    def deletes(self) -> bool:
        return any(e.action == "contact.create" for e in self.entries)

    def describe(self) -> list[str]:
        if self.deletes:
            return ["Delete the contact the agent created"]
        return [describe(entry) for entry in self.entries]


@dataclass
class UndoPlan:
    contacts: list[ContactUndo] = field(default_factory=list)
    # What cannot or need not be undone: created tags and lists, erasures, sent messages.
    left_as_is: list[str] = field(default_factory=list)
    messages_sent: int = 0

    @property
    def conflicts(self) -> list[ContactUndo]:
        return [c for c in self.contacts if c.changed_by]

    @property
    def is_empty(self) -> bool:
        return not self.contacts


@dataclass
class UndoResult:
    restored: int = 0
    deleted: int = 0
    skipped_conflicts: int = 0
    gone: int = 0
    failed: list[str] = field(default_factory=list)


def _value(value: Any) -> str:
    return "(empty)" if value in (None, "", {}, []) else str(value)


def describe(entry: AuditEntry) -> str:
    changes = entry.changes or {}
    if entry.action == "contact.update":
        parts = [
            f"{key.removeprefix('field:')} back to {_value(values[0])}"
            for key, values in sorted(changes.items())  # JSONB does not keep key order
        ]
        return "Restore " + ", ".join(parts)
    if entry.action == "contact.tag":
        return f"Remove the tag {changes.get('tags', [None, '?'])[1]}"
    if entry.action == "contact.untag":
        return f"Tag again with {changes.get('tags', ['?'])[0]}"
    if entry.action == "contact.list_add":
        return f"Remove from the list {changes.get('lists', [None, '?'])[1]}"
    if entry.action == "contact.list_remove":
        return f"Add back to the list {changes.get('lists', ['?'])[0]}"
    return entry.action


def entries_for_action(action: AgentAction) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(agent_action_id=action.pk)


def entries_in_window(agent: Agent, start: dt.datetime, end: dt.datetime) -> QuerySet[AuditEntry]:
    if end <= start:
        raise SwitchboardError("invalid_window", "The end of the window is before its start.")
    return AuditEntry.objects.filter(
        actor_kind="agent", actor_ref=str(agent.pk), at__gte=start, at__lt=end
    )


def plan_undo(entries: QuerySet[AuditEntry], *, messages: QuerySet[Message]) -> UndoPlan:
    """What undoing these entries would restore, and which contacts changed since."""
    plan = UndoPlan(messages_sent=messages.count())
    rows = list(entries.order_by("-at", "-id"))
    by_contact: dict[uuid.UUID, list[AuditEntry]] = defaultdict(list)
    merged: list[AuditEntry] = []
    for entry in rows:
        if entry.action in REVERSIBLE and entry.contact_id and _merged_since(entry):
            merged.append(entry)
        elif entry.action in REVERSIBLE and entry.contact_id:
            by_contact[entry.contact_id].append(entry)
        elif not entry.action.startswith("approval."):
            plan.left_as_is.append(f"{entry.action} {entry.object_repr}".strip())
    if plan.messages_sent:
        plan.left_as_is.append(
            f"{plan.messages_sent} text message(s) were sent; they cannot be unsent."
        )
    named = [*by_contact, *(entry.contact_id for entry in merged)]
    labels = dict(Contact.objects.filter(pk__in=named).values_list("pk", "email"))
    for entry in merged:
        into = labels.get(entry.contact_id, "another contact")
        plan.left_as_is.append(
            f"{entry.action} {entry.object_repr}: merged into {into} since, so left as it is."
        )
    ids = {entry.pk for entry in rows}
    earliest = min((e.at for e in rows), default=None)
    later = (
        # Only changes to the contact count: a text sent to them since (sms.send) is not one.
        AuditEntry.objects.filter(
            contact_id__in=list(by_contact), at__gte=earliest, action__startswith="contact."
        )
        .exclude(pk__in=ids)
        .order_by("at", "id")
        .only("contact_id", "at", "actor_label")
        if by_contact
        else []
    )
    first_later: dict[uuid.UUID, list[AuditEntry]] = defaultdict(list)
    for entry in later:
        first_later[entry.contact_id].append(entry)
    for contact_id in _absorbed_older(by_contact):
        # Another contact's history lives on it now: deleting it would delete that person.
        entries = by_contact.pop(contact_id)
        plan.left_as_is.append(
            f"contact.create {entries[-1].object_repr}: an older contact was merged into it "
            "since, so left as it is."
        )
    for contact_id, contact_entries in by_contact.items():
        item = ContactUndo(
            contact_id=contact_id,
            label=labels.get(contact_id) or contact_entries[0].object_repr,
            entries=contact_entries,
            exists=contact_id in labels,
        )
        own_first = contact_entries[-1].at
        clash = next((e for e in first_later[contact_id] if e.at > own_first), None)
        if clash is not None:
            item.changed_by, item.changed_at = clash.actor_label, clash.at
        plan.contacts.append(item)
    return plan


def _absorbed_older(by_contact: dict[uuid.UUID, list[AuditEntry]]) -> list[uuid.UUID]:
    """The contacts the agent created whose trail holds entries from before their creation:
    an older contact was merged into them (its trail moved over), as import revert finds."""
    created = {
        contact_id: entry.pk
        for contact_id, entries in by_contact.items()
        for entry in entries
        if entry.action == "contact.create"
    }
    if not created:
        return []
    firsts = (
        AuditEntry.objects.filter(contact_id__in=list(created))
        .values("contact_id")
        .annotate(first=Min("id"))
        .values_list("contact_id", "first")
    )
    return [contact_id for contact_id, first in firsts if first < created[contact_id]]


def _merged_since(entry: AuditEntry) -> bool:
    """The entry is about a contact merged into another since: the merge moved it onto the
    survivor's trail (``contact_id``) but left it about the contact it was made on. Undone, it
    would change (or delete) the survivor, whom the agent never touched."""
    return entry.object_type == "contact" and entry.object_id != str(entry.contact_id)


def _restore_attrs(entry: AuditEntry, current: Contact) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for key, (before, _after) in (entry.changes or {}).items():
        if key in RESTORABLE:
            attrs[key] = before or ("unknown" if key.endswith("_consent") else "")
        elif key == "unsubscribed_at":
            attrs["unsubscribed"] = before is not None
        elif key == "metadata":
            old = before or {}
            attrs["metadata"] = {k: old.get(k) for k in {*old, *current.metadata}}
        elif key.startswith("field:"):
            fields[key.removeprefix("field:")] = before
    if fields:
        attrs["fields"] = fields
    return attrs


def _undo_entry(actor: Actor, contact: Contact, entry: AuditEntry) -> None:
    changes = entry.changes or {}
    if entry.action == "contact.update":
        attrs = _restore_attrs(entry, contact)
        if attrs:
            contact_service.update_contact(actor=actor, contact=contact.pk, **attrs)
    elif entry.action == "contact.tag":
        tag = tag_service.find_tag(_tag_name_now(changes["tags"][1], entry))
        if tag:
            tag_service.untag_contact(actor=actor, contact=contact, tag=tag)
    elif entry.action == "contact.untag":
        name = _tag_name_now(changes["tags"][0], entry)
        tag_service.tag_contact(actor=actor, contact=contact, tag_name=name)
    elif entry.action in ("contact.list_add", "contact.list_remove"):
        adding = entry.action == "contact.list_remove"
        contact_list = _entry_list(entry, changes["lists"][0 if adding else 1])
        if contact_list is None:
            return  # the list was deleted since: nothing to put back or take out
        if adding:
            list_service.add_to_list(actor=actor, contact=contact, contact_list=contact_list)
        else:
            list_service.remove_from_list(actor=actor, contact=contact, contact_list=contact_list)


def _tag_name_now(name: str, entry: AuditEntry) -> str:
    """What the tag an entry names is called now: the entry keeps the name it had, and staff
    may have renamed it since (untouched, the undo would miss it, or make a new tag of the old
    name)."""
    renames = AuditEntry.objects.filter(action="tag.rename", at__gte=entry.at).order_by("at", "id")
    for rename in renames.only("changes"):
        before, after = (rename.changes or {}).get("name") or [None, None]
        if isinstance(before, str) and before.casefold() == name.casefold() and after:
            name = after
    return name


def _asked_list_ids(payload: dict[str, Any]) -> set[Any]:
    """The list ids an agent's request named: ``list_id``, ``list_ids``, a batch's items'."""
    items = [payload, *(i for i in payload.get("contacts") or [] if isinstance(i, dict))]
    ids = {item.get("list_id") for item in items}
    ids.update(pk for item in items for pk in item.get("list_ids") or [])
    return {pk for pk in ids if isinstance(pk, int) and not isinstance(pk, bool)}


def _entry_list(entry: AuditEntry, name: str) -> ContactList | None:
    """The list an entry added the contact to (or took them off). The entry keeps only the
    list's name, which another list may share or which may have changed since: the agent's
    request names the list by id, so look among those first."""
    action = AgentAction.objects.filter(pk=entry.agent_action_id).only("payload").first()
    ids = _asked_list_ids(action.payload or {}) if action else set()
    lists = ContactList.objects.filter(pk__in=ids) if ids else ContactList.objects.all()
    if len(ids) == 1:
        return lists.first()  # that list, whatever it is called now (None: deleted since)
    found = list(lists.filter(name=name)[:2])
    if len(found) > 1:
        raise SwitchboardError(
            "ambiguous_list",
            f"More than one list is named “{name}”, so which one to change is unclear; "
            "change the contact's lists by hand.",
        )
    return found[0] if found else None


def _delete_contact(actor: Actor, contact: Contact) -> None:
    audit.record(
        actor=actor,
        action="contact.delete",
        obj=contact,
        contact_id=contact.pk,
        changes={"email": [contact.email, None], "undone_agent_create": [None, True]},
    )
    contact.delete()


def apply_undo(
    *, actor: Actor, agent: Agent, plan: UndoPlan, confirm_conflicts: bool = False, scope: str
) -> UndoResult:
    """Undo the plan's contacts, each in its own transaction: one that cannot be restored (its
    old email is taken now, say) is reported and the others still go through."""
    result = UndoResult()
    for item in plan.contacts:
        if item.changed_by and not confirm_conflicts:
            result.skipped_conflicts += 1
            continue
        try:
            with transaction.atomic():
                contact = Contact.objects.select_for_update().filter(pk=item.contact_id).first()
                if contact is None:
                    result.gone += 1
                    continue
                if item.deletes:
                    _delete_contact(actor, contact)
                    result.deleted += 1
                    continue
                for entry in item.entries:
                    contact.refresh_from_db()
                    _undo_entry(actor, contact, entry)
                result.restored += 1
        except SwitchboardError as exc:
            result.failed.append(f"{item.label}: {exc.message}")
    audit.record(
        actor=actor,
        action="agent.undo",
        obj=agent,
        changes={
            "scope": [None, scope],
            "restored": [None, result.restored],
            "deleted": [None, result.deleted],
            "skipped_conflicts": [None, result.skipped_conflicts],
        },
    )
    return result


def messages_for_action(action: AgentAction) -> QuerySet[Message]:
    """The text a send action queued: its id is in the answer, or in the approval's result."""
    if action.action != "send_sms":
        return Message.objects.none()
    bodies = [action.response_body or {}]
    approval = ApprovalRequest.objects.filter(agent_action=action).first()
    if approval is not None:
        bodies.append(approval.result or {})
    ids = [body["id"] for body in bodies if isinstance(body.get("id"), int)]
    return Message.objects.filter(pk__in=ids)


def messages_in_window(agent: Agent, start: dt.datetime, end: dt.datetime) -> QuerySet[Message]:
    return Message.objects.filter(
        actor_kind="agent", actor_ref=str(agent.pk), created_at__gte=start, created_at__lt=end
    )


def undo_action(
    *, actor: Actor, action: AgentAction, confirm_conflicts: bool = False
) -> UndoResult:
    plan = plan_undo(entries_for_action(action), messages=messages_for_action(action))
    return apply_undo(
        actor=actor,
        agent=action.agent,
        plan=plan,
        confirm_conflicts=confirm_conflicts,
        scope=f"action {action.pk}",
    )


def undo_window(
    *,
    actor: Actor,
    agent: Agent,
    start: dt.datetime,
    end: dt.datetime,
    confirm_conflicts: bool = False,
) -> UndoResult:
    plan = plan_undo(
        entries_in_window(agent, start, end), messages=messages_in_window(agent, start, end)
    )
    return apply_undo(
        actor=actor,
        agent=agent,
        plan=plan,
        confirm_conflicts=confirm_conflicts,
        scope=f"{start.isoformat()} – {end.isoformat()}",
    )
