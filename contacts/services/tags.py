"""Tags: labels on contacts, created on the fly by name."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import Max

from contacts.models import Contact, ContactTag, InteractionKind, Tag
from contacts.segments.references import follow_rename, follow_tag_merge
from contacts.services import dependents
from contacts.services.history import Trail, log_interaction
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry

TAG_MAX = 64
# Invisible characters that ride along with names pasted from web pages and chat apps: kept,
# "VIP\u200b" would be a second tag that looks exactly like "VIP" and matches none of its rules.
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"))


def tidy_tag_name(name: str) -> str:
    """Spaces collapsed, invisible characters dropped and accents composed (NFC), as every tag
    name is stored: "Café" typed on one machine and pasted from another (macOS writes the
    accent as a second character) would otherwise be two tags that look the same."""
    return unicodedata.normalize("NFC", " ".join((name or "").translate(INVISIBLE).split()))


def clean_tag_name(name: str, *, field: str = "name") -> str:
    """The tag name tidied, or ``invalid_tag`` pointing at ``field``: where the caller sent it
    (``tags[2]`` of a contact, a path's ``tag_name``), so it knows which one to fix."""
    name = tidy_tag_name(name)
    if not name or len(name) > TAG_MAX:
        raise SwitchboardError(
            "invalid_tag", f"A tag name has 1 to {TAG_MAX} characters.", field=field
        )
    return name


def find_tag(name: str) -> Tag | None:
    """The tag with this name, spaces tidied as when tags are made and any letter case."""
    return Tag.objects.named(tidy_tag_name(name)).first()


def get_or_create_tag(*, actor: Actor, name: str, trail: Trail | None = None) -> Tag:
    """The tag with this name (any letter case), created if needed. With a ``trail`` its audit
    entry is added there instead of written now."""
    name = clean_tag_name(name)
    tag = Tag.objects.named(name).first()
    if tag:
        return tag
    try:
        with transaction.atomic():
            tag = Tag.objects.create(name=name)
    except IntegrityError:  # created by someone else a moment ago
        return Tag.objects.named(name).get()
    entry = {"actor": actor, "action": "tag.create", "obj": tag, "changes": {"name": [None, name]}}
    if trail is None:
        audit.record(**entry)
    else:
        trail.audit(**entry)
    return tag


def newest_tag_id() -> int:
    """The id of the newest tag (0 for none): the create form carries the one it was drawn
    with, so the same form sent twice is not answered "already exists" (see ``create_tag``)."""
    return Tag.objects.aggregate(newest=Max("pk"))["newest"] or 0


@transaction.atomic
def create_tag(*, actor: Actor, name: str, after_tag: int | None = None) -> Tag:
    """``after_tag``: ``newest_tag_id()`` when the create form was drawn. The same form sent
    again (a double click, a resubmitted page) answers the tag its first send made instead of
    ``duplicate_tag``; a tag someone else made, or one older than the form, is a duplicate."""
    name = clean_tag_name(name)
    if existing := Tag.objects.named(name).first():
        if after_tag is not None and existing.pk > after_tag and _created_by(actor, existing):
            return existing
        raise SwitchboardError(
            "duplicate_tag", f"A tag named “{name}” already exists.", field="name"
        )
    return get_or_create_tag(actor=actor, name=name)


def tag_version(tag: Tag) -> str:
    """A digest of the tag's name as stored: the rename form sends back the one it was drawn
    with, so a rename cannot quietly replace a colleague's rename made meanwhile."""
    return hashlib.sha256(tag.name.encode()).hexdigest()[:16]


def _created_by(actor: Actor, tag: Tag) -> bool:
    return AuditEntry.objects.filter(
        action="tag.create", object_type="tag", object_id=str(tag.pk), **actor.match()
    ).exists()


@transaction.atomic
def rename_tag(*, actor: Actor, tag: Tag, name: str, expected_version: str | None = None) -> Tag:
    """``expected_version``: ``tag_version`` of the tag as the editor loaded it; if someone
    renamed it since, ``edit_conflict`` instead of replacing their name unseen."""
    name = clean_tag_name(name)
    locked = Tag.objects.select_for_update().filter(pk=tag.pk).first()
    if locked is None:  # deleted or merged since the caller looked it up
        raise SwitchboardError(
            "unknown_tag", f"The tag “{tag.name}” no longer exists: it was deleted a moment ago."
        )
    tag = locked
    current = tag_version(tag)
    # Renaming it to what it is called already (the second click of a double click) loses nothing.
    if expected_version and expected_version != current and name != tag.name:
        raise SwitchboardError(
            "edit_conflict",
            f"This tag was renamed to “{tag.name}”{audit.last_changed_by(tag)} while you were "
            "editing. Your name is kept below: save again to use it instead.",
            field="name",
            version=current,
        )
    if Tag.objects.exclude(pk=tag.pk).named(name).exists():
        raise SwitchboardError(
            "duplicate_tag", f"A tag named “{name}” already exists.", field="name"
        )
    if name == tag.name:  # saved unchanged: nothing to record or follow
        return tag
    before, tag.name = tag.name, name
    tag.save(update_fields=["name"])
    audit.record(actor=actor, action="tag.rename", obj=tag, changes={"name": [before, name]})
    follow_rename(actor=actor, kind="tag", obj=tag, old=before)
    return tag


def gone_note(tag_id: int) -> str | None:
    """What became of a tag that no longer exists, for whoever acts on a page drawn before it
    went ("The tag VIP was already merged into Gold by ada."); None if there never was one."""
    entry = audit.last_removal("tag", tag_id, "tag.delete", "tag.merge")
    if entry is None:
        return None
    if entry.action == "tag.merge":
        into = (entry.changes.get("merged_into") or [None, "another tag"])[1]
        return f"The tag {entry.object_repr} was already merged into {into} by {entry.actor_label}."
    return f"The tag {entry.object_repr} was already deleted by {entry.actor_label}."


@transaction.atomic
def delete_tag(*, actor: Actor, tag: Tag) -> None:
    members = tag.contact_tags.count()
    audit.record(
        actor=actor,
        action="tag.delete",
        obj=tag,
        changes={"name": [tag.name, None], "contacts": [members, 0]},
    )
    tag.delete()


@transaction.atomic
def merge_tags(*, actor: Actor, source: Tag, target: Tag) -> int:
    """Give ``source``'s contacts ``target`` instead, point segments at ``target`` and delete
    ``source``; returns how many contacts gained ``target`` (those that had both just lose
    ``source``). For two tags that mean the same thing ("VIP", "V.I.P.")."""
    if source.pk == target.pk:
        raise SwitchboardError(
            "invalid_tag_merge", "Choose another tag to merge this one into.", field="into"
        )
    found = {t.pk: t for t in Tag.objects.select_for_update().filter(pk__in=[source.pk, target.pk])}
    if len(found) < 2:
        raise SwitchboardError("unknown_tag", "One of the two tags no longer exists.", field="into")
    source, target = found[source.pk], found[target.pk]
    members = source.contact_tags.count()
    already = ContactTag.objects.filter(tag=target).values("contact_id")
    moved = source.contact_tags.exclude(contact_id__in=already).update(tag=target)
    audit.record(
        actor=actor,
        action="tag.merge",
        obj=source,
        changes={"name": [source.name, None], "merged_into": [None, target.name],
                 "contacts": [members, 0], "gained": [None, moved]},
    )  # fmt: skip
    follow_tag_merge(actor=actor, source=source, target=target)
    dependents.follow_tag_merge(actor=actor, source=source, target=target)
    source.delete()  # the contacts that had both tags keep the target's row
    return moved


@transaction.atomic
def tag_contact(*, actor: Actor, contact: Contact, tag_name: str) -> tuple[Tag, bool]:
    """Apply a tag by name (creating the tag if needed). Returns (tag, newly applied)."""
    tag = get_or_create_tag(actor=actor, name=tag_name)
    _, created = ContactTag.objects.get_or_create(contact=contact, tag=tag)
    if created:
        audit.record(
            actor=actor,
            action="contact.tag",
            obj=contact,
            contact_id=contact.pk,
            changes={"tags": [None, tag.name]},
        )
        log_interaction(
            contact=contact,
            actor=actor,
            kind=InteractionKind.TAGGED,
            description=f"Tagged {tag.name}",
        )
    return tag, created


def apply_tags(
    *, actor: Actor, contact: Contact, names: Iterable[str], trail: Trail, fresh: bool
) -> list[Tag]:
    """Apply tags by name to one contact (creating tags as needed); returns those newly applied.

    Audit entries and history lines go to ``trail``. ``fresh``: the contact was created in
    this transaction, so it has no tags yet and no one else can tag it before the commit.
    """
    tags: list[Tag] = []
    for name in names:
        tag = get_or_create_tag(actor=actor, name=name, trail=trail)
        if tag not in tags:
            tags.append(tag)
    if not tags:
        return []
    if fresh:
        new = tags
        ContactTag.objects.bulk_create([ContactTag(contact=contact, tag=tag) for tag in new])
    else:
        have = set(
            ContactTag.objects.filter(contact=contact, tag__in=tags).values_list("tag", flat=True)
        )
        new = [tag for tag in tags if tag.pk not in have]
        if new:
            try:
                with transaction.atomic():
                    ContactTag.objects.bulk_create(
                        [ContactTag(contact=contact, tag=tag) for tag in new]
                    )
            except IntegrityError:  # tagged by a concurrent request: apply one by one
                new = [
                    tag
                    for tag in new
                    if ContactTag.objects.get_or_create(contact=contact, tag=tag)[1]
                ]
    for tag in new:
        trail.audit(
            actor=actor,
            action="contact.tag",
            obj=contact,
            contact_id=contact.pk,
            changes={"tags": [None, tag.name]},
        )
        trail.history(
            contact=contact,
            actor=actor,
            kind=InteractionKind.TAGGED,
            description=f"Tagged {tag.name}",
        )
    return new


@transaction.atomic
def untag_contact(*, actor: Actor, contact: Contact, tag: Tag) -> bool:
    deleted, _ = ContactTag.objects.filter(contact=contact, tag=tag).delete()
    if deleted:
        audit.record(
            actor=actor,
            action="contact.untag",
            obj=contact,
            contact_id=contact.pk,
            changes={"tags": [tag.name, None]},
        )
        log_interaction(
            contact=contact,
            actor=actor,
            kind=InteractionKind.UNTAGGED,
            description=f"Untagged {tag.name}",
        )
    return bool(deleted)
