"""Tags: labels on contacts, created on the fly by name."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from contacts.models import Contact, ContactTag, InteractionKind, Tag
from contacts.services.history import log_interaction
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError

TAG_MAX = 64


def clean_tag_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > TAG_MAX:
        raise SwitchboardError(
            "invalid_tag", f"A tag name has 1 to {TAG_MAX} characters.", field="name"
        )
    return name


def get_or_create_tag(*, actor: Actor, name: str) -> Tag:
    name = clean_tag_name(name)
    tag = Tag.objects.filter(name__iexact=name).first()
    if tag:
        return tag
    try:
        with transaction.atomic():
            tag = Tag.objects.create(name=name)
    except IntegrityError:  # created by someone else a moment ago
        return Tag.objects.get(name__iexact=name)
    audit.record(actor=actor, action="tag.create", obj=tag, changes={"name": [None, name]})
    return tag


@transaction.atomic
def create_tag(*, actor: Actor, name: str) -> Tag:
    name = clean_tag_name(name)
    if Tag.objects.filter(name__iexact=name).exists():
        raise SwitchboardError(
            "duplicate_tag", f"A tag named “{name}” already exists.", field="name"
        )
    return get_or_create_tag(actor=actor, name=name)


@transaction.atomic
def rename_tag(*, actor: Actor, tag: Tag, name: str) -> Tag:
    name = clean_tag_name(name)
    if Tag.objects.exclude(pk=tag.pk).filter(name__iexact=name).exists():
        raise SwitchboardError(
            "duplicate_tag", f"A tag named “{name}” already exists.", field="name"
        )
    before, tag.name = tag.name, name
    tag.save(update_fields=["name"])
    audit.record(actor=actor, action="tag.rename", obj=tag, changes={"name": [before, name]})
    return tag


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
