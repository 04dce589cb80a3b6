"""Probable duplicates and merging two contacts into one.

Candidates are found three ways, each with an indexed query or a narrow scan:
- the same mailbox: equal once case, and (where the provider ignores them) dots and
  ``+tags`` in the local part, are removed: ``J.Doe+news@googlemail.com`` is
  ``jdoe@gmail.com``;
- the same phone number (E.164);
- similar names on the same company domain: same last name and a first name that is the
  same or a prefix of the other ("Rob" / "Robert"), on a domain that is not a free-mail
  provider (two Smiths at gmail.com are strangers).

A pair staff have checked and found to be two people is dismissed (``dismiss_duplicate``)
and never suggested again, until someone undoes that (``undo_dismissal``).
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Value
from django.db.models.functions import StrIndex, Substr
from django.utils import timezone

from contacts.models import (
    Consent,
    Contact,
    ContactTag,
    DismissedDuplicate,
    Field,
    FieldValue,
    Interaction,
    InteractionKind,
    ListMembership,
)
from contacts.services.contacts import AUDITED, merge_metadata
from contacts.services.history import Trail, log_interaction
from contacts.services.normalise import search_key
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

# Providers that deliver "j.doe", "jdoe" and "jdoe+anything" to the same mailbox.
DOTS_IGNORED = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# Providers with plus-addressing: "jdoe+news" is "jdoe".
PLUS_TAGS = {
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "live.com",
    "msn.com", "icloud.com", "me.com", "mac.com", "fastmail.com", "fastmail.fm", "proton.me",
    "protonmail.com", "pm.me", "yandex.ru", "zoho.com",
}  # fmt: skip
FREE_MAIL = PLUS_TAGS | {
    "yahoo.com", "yahoo.co.uk", "aol.com", "gmx.com", "gmx.de", "web.de", "mail.com",
    "btinternet.com", "sky.com", "orange.fr", "free.fr", "qq.com", "163.com",
}  # fmt: skip
MAX_GROUPS = 200
_ADDRESSES_PER_QUERY = 5000
_BUCKETS_PER_QUERY = 25  # (company domain, surname) buckets whose members one query reads
# The ``name`` of the history lines a dismissal and its undo leave in both contacts' history.
NOT_DUPLICATE = "not_duplicate"
# Fields staff choose between when merging; custom fields are chosen as "field:<id>".
CHOOSABLE = ("email", "phone", "first_name", "last_name", "email_consent", "sms_consent")
# Unless staff choose otherwise, the stronger statement of consent survives a merge: a
# withdrawal made on either record is kept (as an unsubscribe is), then a grant over unknown.
_CONSENT_RANK = {Consent.WITHDRAWN: 2, Consent.GRANTED: 1}


def default_side(key: str, mine: Any, theirs: Any) -> str:
    """Whose value a merge keeps where staff did not choose: "survivor" or "duplicate"."""
    if key in ("email_consent", "sms_consent"):
        better = _CONSENT_RANK.get(theirs, 0) > _CONSENT_RANK.get(mine, 0)
        return "duplicate" if better else "survivor"
    # Only a missing value gives way: a custom field's "no" or 0 is a value like any other.
    has_mine, has_theirs = mine not in (None, ""), theirs not in (None, "")
    return "duplicate" if has_theirs and not has_mine else "survivor"


def canonical_email(email: str) -> str:
    """The mailbox an address reaches: lower case, provider-ignored dots and +tags removed."""
    local, _, domain = email.strip().lower().rpartition("@")
    if not local:
        return email.strip().lower()
    if domain in PLUS_TAGS:
        local = local.split("+", 1)[0]
    if domain in DOTS_IGNORED:
        local, domain = local.replace(".", ""), DOTS_IGNORED[domain]
    return f"{local}@{domain}"


@dataclass
class DuplicateGroup:
    reason: str  # "same email", "same phone", "similar name"
    # The pair to compare (or dismiss) first, then any other members of the group.
    contacts: list[Contact]

    @property
    def key(self) -> str:
        return ",".join(sorted(str(c.pk) for c in self.contacts))

    @property
    def pair(self) -> tuple[Contact, Contact]:
        return self.contacts[0], self.contacts[1]


def ordered_pair(first: uuid.UUID, second: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """A pair as DismissedDuplicate stores it: the lower id first."""
    return (first, second) if first < second else (second, first)


def _open_pair(
    ids: list[uuid.UUID], dismissed: set[tuple[uuid.UUID, uuid.UUID]]
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The group's first pair nobody has dismissed; None when staff dismissed every pair."""
    for a, b in itertools.combinations(ids, 2):
        if ordered_pair(a, b) not in dismissed:
            return a, b
    return None


def _same_email_groups(limit: int) -> list[list[uuid.UUID]]:
    # Only addresses a provider could alias need a look: a +tag, or a dot-ignoring domain.
    aliasable = Q(email__contains="+")
    for domain in DOTS_IGNORED:
        aliasable |= Q(email__endswith="@" + domain)
    by_mailbox: dict[str, list[uuid.UUID]] = defaultdict(list)
    candidates = Contact.objects.filter(aliasable).values_list("pk", "email")
    for pk, email in candidates.iterator(chunk_size=5000):
        by_mailbox[canonical_email(email)].append(pk)
    # A canonical address may also be stored as is (jdoe@outlook.com next to
    # jdoe+news@outlook.com). Every address at a dot-ignoring domain was read above; the rest
    # are looked up a slice at a time: one IN list of them all is more variables than SQLite
    # allows in a statement (32,766 in its default build, 250,000 in Debian's) once a large
    # base has that many such addresses. (psycopg binds PostgreSQL's client-side here.)
    unread = sorted(m for m in by_mailbox if m.rpartition("@")[2] not in DOTS_IGNORED.values())
    for start in range(0, len(unread), _ADDRESSES_PER_QUERY):
        chunk = unread[start : start + _ADDRESSES_PER_QUERY]
        for pk, email in Contact.objects.filter(email__in=chunk).values_list("pk", "email"):
            if pk not in by_mailbox[email]:
                by_mailbox[email].append(pk)
    groups = [ids for ids in by_mailbox.values() if len(ids) > 1]
    return groups[:limit]


def _same_phone_groups(limit: int) -> list[list[uuid.UUID]]:
    phones = (
        Contact.objects.exclude(phone="")
        .values("phone")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("phone")
        .values_list("phone", flat=True)[:limit]
    )
    by_phone: dict[str, list[uuid.UUID]] = defaultdict(list)
    for pk, phone in Contact.objects.filter(phone__in=list(phones)).values_list("pk", "phone"):
        by_phone[phone].append(pk)
    return list(by_phone.values())


def _similar_name_groups(limit: int) -> list[list[uuid.UUID]]:
    # Group in the database by (company domain, last name) so only the candidate groups come
    # back, not every contact that shares a common surname with someone.
    domain = Substr("email", StrIndex("email", Value("@")) + 1)
    buckets = (
        Contact.objects.exclude(last_name_key="")
        .exclude(first_name_key="")
        .annotate(domain=domain)
        .exclude(domain__in=sorted(FREE_MAIL))
        .values("domain", "last_name_key")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("domain", "last_name_key")[: limit * 2]
    )
    # Members a few buckets at a time, in the buckets' order, and only until a page of pairs
    # is found: at a large company a common surname has hundreds of people, and reading every
    # bucket's members at once (then comparing each pair of them) took the duplicates page of
    # a million contacts a minute and a half.
    groups: list[list[uuid.UUID]] = []
    buckets = [(bucket["domain"], bucket["last_name_key"]) for bucket in buckets]
    for start in range(0, len(buckets), _BUCKETS_PER_QUERY):
        chunk = buckets[start : start + _BUCKETS_PER_QUERY]
        wanted = Q(pk__in=[])
        for domain_name, last in chunk:
            wanted |= Q(email__endswith="@" + domain_name, last_name_key=last)
        members: dict[tuple[str, str], list[tuple[uuid.UUID, str]]] = defaultdict(list)
        # The surname filter lets the database use its name index; the OR narrows to the
        # domains.
        rows = Contact.objects.filter(wanted, last_name_key__in={last for _, last in chunk})
        for pk, email, first, last in rows.exclude(first_name_key="").values_list(
            "pk", "email", "first_name_key", "last_name_key"
        ):
            members[(email.rpartition("@")[2], last)].append((pk, first))
        for bucket in chunk:
            groups += itertools.islice(_prefix_pairs(members[bucket]), limit - len(groups))
            if len(groups) >= limit:
                return groups
    return groups


def _prefix_pairs(people: list[tuple[uuid.UUID, str]]) -> Iterator[list[uuid.UUID]]:
    """Pairs whose first names are the same or one a prefix of the other ("Rob", "Robert").

    In sorted order the names a name begins are the run right after it, so each name is
    compared only with the names it pairs with, and one that does not ends the run."""
    people = sorted(people, key=lambda person: person[1])
    for i, (a, first_a) in enumerate(people):
        for b, first_b in people[i + 1 :]:
            if not first_b.startswith(first_a):
                break
            yield [a, b]


def find_duplicates(*, limit: int = MAX_GROUPS) -> list[DuplicateGroup]:
    """Probable duplicate groups, most certain first (same mailbox, same phone, similar name).

    A group whose every pair was dismissed is left out; in one with an undismissed pair left,
    that pair comes first."""
    dismissed = set(DismissedDuplicate.objects.values_list("contact_a_id", "contact_b_id"))
    # Each dismissal can hide a group: ask the finders for that many more, so dismissed pairs
    # do not use up the page and hide the real duplicates behind them.
    wanted = limit + len(dismissed)
    found: list[tuple[str, list[uuid.UUID]]] = []
    seen: set[frozenset[uuid.UUID]] = set()
    for reason, groups in (
        ("same email", _same_email_groups(wanted)),
        ("same phone", _same_phone_groups(wanted)),
        ("similar name", _similar_name_groups(wanted)),
    ):
        for ids in groups:
            key = frozenset(ids)
            if key in seen:
                continue
            seen.add(key)
            pair = _open_pair(ids, dismissed)
            if pair is not None:
                found.append((reason, [*pair, *(pk for pk in ids if pk not in pair)]))
    found = found[:limit]
    contacts = Contact.objects.in_bulk([pk for _, ids in found for pk in ids])
    return [
        DuplicateGroup(reason=reason, contacts=[contacts[pk] for pk in ids if pk in contacts])
        for reason, ids in found
        # Both of the pair, or nothing to compare (one was merged or erased a moment ago).
        if ids[0] in contacts and ids[1] in contacts
    ]


def _pair_ids(
    first: Contact | uuid.UUID | str, second: Contact | uuid.UUID | str
) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(str(c.pk if isinstance(c, Contact) else c)) for c in (first, second)]
    except ValueError:
        raise SwitchboardError("unknown_contact", "Both contacts must be valid ids.") from None


def _lock_pair(survivor_id: Any, duplicate_id: Any) -> tuple[Contact, Contact]:
    ids = _pair_ids(survivor_id, duplicate_id)
    if ids[0] == ids[1]:
        raise SwitchboardError(
            "merge_same_contact", "A contact cannot be merged with itself; pick two contacts."
        )
    # Lock in a fixed order so two merges of the same pair cannot deadlock.
    rows = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=sorted(ids))}
    missing = [str(pk) for pk in ids if pk not in rows]
    if missing:
        raise SwitchboardError(
            "unknown_contact",
            f"There is no contact with id {', '.join(missing)} (it may already have been merged "
            "or erased).",
        )
    return rows[ids[0]], rows[ids[1]]


def _check_versions(pair: tuple[Contact, Contact], expected: tuple[int, int]) -> None:
    changed = [c for c, version in zip(pair, expected, strict=True) if c.version != version]
    if not changed:
        return
    who = audit.last_changed_by(
        entries=AuditEntry.objects.filter(contact_id__in=[c.pk for c in changed])
    )
    names = " and ".join(str(c) for c in changed)
    raise SwitchboardError(
        "edit_conflict",
        f"{names} {'were' if len(changed) > 1 else 'was'} changed{who} since this comparison "
        "was loaded; nothing was merged. Check the latest values below and merge again.",
        current_versions=[c.version for c in pair],
    )


def _move_related(survivor: Contact, duplicate: Contact) -> None:
    """Give the survivor the duplicate's tags, lists and history, and any other app's rows."""
    have_tags = ContactTag.objects.filter(contact=survivor).values("tag_id")
    ContactTag.objects.filter(contact=duplicate).exclude(tag_id__in=have_tags).update(
        contact=survivor
    )
    have_lists = ListMembership.objects.filter(contact=survivor).values("list_id")
    ListMembership.objects.filter(contact=duplicate).exclude(list_id__in=have_lists).update(
        contact=survivor
    )
    Interaction.objects.filter(contact=duplicate).update(contact=survivor)
    # The trail about the duplicate now belongs to the survivor (erasing them scrubs it too).
    AuditEntry.objects.filter(contact_id=duplicate.pk).update(contact_id=survivor.pk)
    handled = {ContactTag, ListMembership, Interaction, FieldValue, DismissedDuplicate}
    # Other apps' rows pointing at the contact (messages, replies, campaign audiences, …)
    # follow it too, also those whose foreign key has no reverse accessor (related_name="+"):
    # left behind, they would point at nobody, and erasing the survivor would not find them.
    relations = [
        f
        for f in Contact._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete
    ]
    for relation in relations:
        if relation.related_model in handled or relation.many_to_many:
            continue
        if relation.one_to_one:
            continue  # one row per contact: the survivor keeps its own
        manager = relation.related_model._base_manager
        try:
            with transaction.atomic():
                manager.filter(**{relation.field.name: duplicate}).update(
                    **{relation.field.name: survivor}
                )
        except IntegrityError:
            raise SwitchboardError(
                "merge_conflict",
                f"Both contacts have {relation.related_model._meta.verbose_name_plural} that "
                "cannot be combined; nothing was merged.",
            ) from None


@transaction.atomic
def merge_contacts(
    *,
    actor: Actor,
    survivor: Contact | uuid.UUID | str,
    duplicate: Contact | uuid.UUID | str,
    choices: Mapping[str, str] | None = None,
    expected_versions: tuple[int, int] | None = None,
) -> Contact:
    """Fold ``duplicate`` into ``survivor`` and delete it; atomic.

    The survivor keeps the union of tags, lists, metadata (its own keys win) and history.
    ``choices`` maps an attribute (``email``, ``phone``, names, consents, ``field:<id>``) to
    ``"survivor"`` or ``"duplicate"``: whose value to keep. Unchosen attributes keep the
    survivor's value, or the duplicate's where the survivor has none. An unsubscribe on
    either side is kept: a merge never re-subscribes anybody.

    ``expected_versions`` are the (survivor, duplicate) versions the choices were made from:
    if either contact was saved since, the merge is refused with ``edit_conflict`` rather than
    keeping, say, the duplicate's old phone over the number someone just typed in.
    """
    survivor_id = survivor.pk if isinstance(survivor, Contact) else survivor
    duplicate_id = duplicate.pk if isinstance(duplicate, Contact) else duplicate
    keep, gone = _lock_pair(survivor_id, duplicate_id)
    if expected_versions is not None:
        _check_versions((keep, gone), expected_versions)
    choices = dict(choices or {})
    for key, side in choices.items():
        if side not in ("survivor", "duplicate"):
            raise SwitchboardError(
                "invalid_merge", f"Choose survivor or duplicate for {key}; got “{side}”."
            )
        if key not in CHOOSABLE and not key.startswith("field:"):
            raise SwitchboardError("invalid_merge", f"“{key}” is not something a merge can choose.")

    def pick(key: str, mine: Any, theirs: Any) -> Any:
        side = choices.get(key) or default_side(key, mine, theirs)
        return theirs if side == "duplicate" else mine

    before = {name: audit.jsonable(getattr(keep, name)) for name in AUDITED}
    duplicate_summary = {name: audit.jsonable(getattr(gone, name)) for name in AUDITED}
    new_values = {name: pick(name, getattr(keep, name), getattr(gone, name)) for name in CHOOSABLE}
    if new_values["phone"] == gone.phone and gone.phone != keep.phone:
        keep.phone_country, keep.phone_type = gone.phone_country, gone.phone_type
    field_changes = _merge_field_values(keep, gone, pick)
    # "Not a duplicate of X" was said of a contact that is about to go; the survivor now holds
    # its values and may well match X, so such pairs may be suggested again.
    cleared = DismissedDuplicate.objects.filter(Q(contact_a=gone) | Q(contact_b=gone)).delete()[0]
    _repoint_dismissal_history(gone.pk, keep.pk)
    _move_related(keep, gone)
    keep.metadata = merge_metadata(gone.metadata, keep.metadata)
    unsubscribed = [at for at in (keep.unsubscribed_at, gone.unsubscribed_at) if at]
    keep.unsubscribed_at = min(unsubscribed) if unsubscribed else None
    contacted = [at for at in (keep.last_contacted_at, gone.last_contacted_at) if at]
    keep.last_contacted_at = max(contacted) if contacted else None
    keep.created_at = min(keep.created_at, gone.created_at)
    gone_pk = gone.pk
    gone.delete()  # first, so the survivor may take over its email (unique)

    for name, value in new_values.items():
        setattr(keep, name, value)
    keep.first_name_key, keep.last_name_key = (
        search_key(keep.first_name),
        search_key(keep.last_name),
    )
    keep.updated_at = timezone.now()
    keep.version += 1
    keep.save(
        update_fields=[
            *CHOOSABLE,
            "phone_country",
            "phone_type",
            "first_name_key",
            "last_name_key",
            "metadata",
            "unsubscribed_at",
            "last_contacted_at",
            "created_at",
            "updated_at",
            "version",
        ]  # fmt: skip
    )
    changes = audit.diff(before, {name: audit.jsonable(getattr(keep, name)) for name in AUDITED})
    changes.update(field_changes)
    changes["merged"] = [str(gone_pk), None]
    changes["duplicate"] = [duplicate_summary, None]
    if cleared:
        changes["dismissals_cleared"] = [cleared, 0]
    audit.record(actor=actor, action="contact.merge", obj=keep, contact_id=keep.pk, changes=changes)
    log_interaction(
        contact=keep,
        actor=actor,
        kind=InteractionKind.UPDATED,
        description=f"Merged with duplicate {duplicate_summary['email']}",
    )
    return keep


def _merge_field_values(
    keep: Contact, gone: Contact, pick: Callable[[str, Any, Any], Any]
) -> dict[str, list[Any]]:
    mine = {fv.field_id: fv for fv in FieldValue.objects.filter(contact=keep)}
    theirs = {fv.field_id: fv for fv in FieldValue.objects.filter(contact=gone)}
    fields = Field.objects.in_bulk(set(mine) | set(theirs))
    changes: dict[str, list[Any]] = {}
    for field_id, field in fields.items():
        column = field.value_column
        own = getattr(mine[field_id], column) if field_id in mine else None
        other = getattr(theirs[field_id], column) if field_id in theirs else None
        chosen = pick(f"field:{field_id}", own, other)
        if chosen == own or chosen is None:
            continue
        if field_id in mine:
            FieldValue.objects.filter(pk=mine[field_id].pk).update(**{column: chosen})
        else:
            FieldValue.objects.create(contact=keep, field=field, **{column: chosen})
        changes[f"field:{field.name}"] = [audit.jsonable(own), audit.jsonable(chosen)]
    return changes


def merge_preview(contacts: Iterable[Contact]) -> list[dict[str, Any]]:
    """Rows for the side-by-side page: attribute, label and each contact's value."""
    contacts = list(contacts)
    values = defaultdict(dict)
    for fv in FieldValue.objects.filter(contact__in=contacts).select_related("field"):
        values[fv.contact_id][fv.field_id] = fv.display_value
    rows = [
        {
            "key": name,
            "label": name.replace("_", " ").capitalize(),
            "values": [getattr(c, name) for c in contacts],
        }
        for name in CHOOSABLE
    ]
    for field in Field.objects.all():
        row_values = [values[c.pk].get(field.pk, "") for c in contacts]
        if any(row_values):
            rows.append({"key": f"field:{field.pk}", "label": field.name, "values": row_values})
    for row in rows:
        # The side the page offers checked: what the merge keeps if nobody chooses.
        row["keep"] = default_side(row["key"], *row["values"][:2]) if len(contacts) > 1 else ""
    return rows


def _record_dismissal(
    *,
    actor: Actor,
    dismissal: DismissedDuplicate,
    pair: tuple[Contact, Contact],
    dismissed: bool,
) -> None:
    """An audit entry and a history line in each contact's trail, written together."""
    trail = Trail()
    for mine, theirs in (pair, pair[::-1]):
        # The audit entry names the other contact by id only: erasing one of them scrubs the
        # entries about them, not the other's, so no name or email may ride along there.
        trail.audit(
            actor=actor,
            action="duplicate.dismiss" if dismissed else "duplicate.undo_dismiss",
            obj=dismissal,
            contact_id=mine.pk,
            changes={
                "not_duplicate_of": [None, str(theirs.pk)] if dismissed else [str(theirs.pk), None]
            },
        )
        # The history line names them, as other lines do; erasure deletes the lines that name
        # the person erased (they are found by NOT_DUPLICATE and ``data["other_contact"]``).
        description = (
            f"Marked as not a duplicate of {theirs}"
            if dismissed
            else f"Undid “not a duplicate” of {theirs}"
        )
        trail.history(
            contact=mine,
            actor=actor,
            kind=InteractionKind.UPDATED,
            name=NOT_DUPLICATE,
            description=description,
            data={"other_contact": str(theirs.pk)},
        )
    trail.write()


def _repoint_dismissal_history(gone_id: uuid.UUID, keep_id: uuid.UUID) -> None:
    # Other contacts' lines name the merged-away contact, who is now the survivor: point them
    # at the survivor, so that erasing the survivor deletes them too.
    lines = list(
        Interaction.objects.filter(
            kind=InteractionKind.UPDATED, name=NOT_DUPLICATE, data__other_contact=str(gone_id)
        ).only("pk", "data")
    )
    for line in lines:
        line.data = {**line.data, "other_contact": str(keep_id)}
    Interaction.objects.bulk_update(lines, ["data"])


def forget_dismissal_history(contact_id: uuid.UUID) -> int:
    """Delete the history lines of other contacts that name this one as "not a duplicate";
    for erasure (the contact's own lines go with it). Returns how many."""
    return Interaction.objects.filter(
        kind=InteractionKind.UPDATED, name=NOT_DUPLICATE, data__other_contact=str(contact_id)
    ).delete()[0]


@transaction.atomic
def dismiss_duplicate(
    *, actor: Actor, contact: Contact | uuid.UUID | str, other: Contact | uuid.UUID | str
) -> DismissedDuplicate:
    """Record that two contacts are different people, so they are never suggested again.

    Dismissing a pair that already is dismissed changes nothing and returns its row.
    """
    first, second = _pair_ids(contact, other)
    if first == second:
        raise SwitchboardError(
            "dismiss_same_contact", "A contact is always a duplicate of itself; pick two contacts."
        )
    a, b = ordered_pair(first, second)
    # Lock both (in a fixed order): a merge or erasure now cannot delete one under the insert.
    found = {
        c.pk: c
        for c in Contact.objects.select_for_update()
        .filter(pk__in=[a, b])
        .only("pk", "first_name", "last_name", "email")
    }
    missing = [str(pk) for pk in (a, b) if pk not in found]
    if missing:
        raise SwitchboardError(
            "unknown_contact",
            f"There is no contact with id {', '.join(missing)} (it may have been merged or "
            "erased).",
        )
    dismissal, created = DismissedDuplicate.objects.get_or_create(
        contact_a_id=a,
        contact_b_id=b,
        defaults={
            "actor_kind": actor.kind,
            "actor_user_id": actor.user_id,
            "actor_ref": actor.ref,
            "actor_label": actor.label,
        },
    )
    if created:
        _record_dismissal(
            actor=actor, dismissal=dismissal, pair=(found[a], found[b]), dismissed=True
        )
    return dismissal


@transaction.atomic
def undo_dismissal(
    *, actor: Actor, contact: Contact | uuid.UUID | str, other: Contact | uuid.UUID | str
) -> bool:
    """Let a dismissed pair be suggested again; False if it was not dismissed (any more)."""
    a, b = ordered_pair(*_pair_ids(contact, other))
    dismissal = (
        # Only the row is locked, as before: a merge locks the contacts and then this row.
        DismissedDuplicate.objects.select_for_update(of=("self",))
        .select_related("contact_a", "contact_b")
        .filter(contact_a_id=a, contact_b_id=b)
        .first()
    )
    if dismissal is None:
        return False
    _record_dismissal(
        actor=actor,
        dismissal=dismissal,
        pair=(dismissal.contact_a, dismissal.contact_b),
        dismissed=False,
    )
    dismissal.delete()
    return True


def merged_into(contact_id: uuid.UUID) -> uuid.UUID | None:
    """The contact a merged-away contact now lives on, if any.

    A merge moves the duplicate's audit entries to the survivor (contact_id) but leaves them
    about the duplicate (object_id), so its own "created" entry names where it went; a chain
    of merges keeps moving them, so this is the latest survivor."""
    survivor_id = (
        AuditEntry.objects.filter(object_type="contact", object_id=str(contact_id))
        .exclude(contact_id=contact_id)
        .exclude(contact_id=None)
        .values_list("contact_id", flat=True)
        .first()
    )
    if survivor_id and Contact.objects.filter(pk=survivor_id).exists():
        return survivor_id
    return None
