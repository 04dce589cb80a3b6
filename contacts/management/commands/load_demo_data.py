"""Load a demo data set (a few thousand realistic contacts) into an empty database."""

from __future__ import annotations

import random

from django.core.management.base import BaseCommand
from django.db import transaction

from contacts import demo
from contacts.models import (
    Contact,
    ContactList,
    ContactTag,
    Field,
    FieldValue,
    Interaction,
    ListMembership,
    Tag,
)
from contacts.phones import normalise_phone
from contacts.services.normalise import search_key
from dashboard import audit
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError


class Command(BaseCommand):
    help = "Load demo contacts, lists, tags and custom fields, only if there are no contacts yet."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=3000)
        parser.add_argument("--seed", type=int, default=7)

    @transaction.atomic
    def handle(self, *args, contacts: int, seed: int, **options):
        if Contact.objects.exists():
            self.stdout.write("Demo data: the database already has contacts; nothing loaded.")
            return
        actor = Actor.system("demo data")
        rng = random.Random(seed)
        tags = {name: Tag.objects.get_or_create(name=name)[0] for name in demo.TAGS}
        lists = [
            ContactList.objects.get_or_create(name=name, defaults={"limit": limit})[0]
            for name, limit in demo.LISTS
        ]
        fields = {
            name: Field.objects.get_or_create(name=name, defaults={"type": kind})[0]
            for name, kind in demo.FIELDS
        }

        rows, values, tag_rows, members, history = [], [], [], [], []
        for person in demo.people(contacts, seed=seed):
            try:
                phone = normalise_phone(person.phone)
            except SwitchboardError:
                phone = None
            contact = Contact(
                email=person.email, phone=phone.e164 if phone else "", phone_country=phone.region if phone else "",
                phone_type=phone.type if phone else "",
                first_name=person.first_name, last_name=person.last_name,
                first_name_key=search_key(person.first_name), last_name_key=search_key(person.last_name),
                sms_consent=rng.choice(["granted", "granted", "granted", "unknown", "withdrawn"]),
                email_consent=rng.choice(["granted", "granted", "unknown"]),
                metadata={"crm_id": f"CRM-{rng.randint(10000, 99999)}", "plan": rng.choice(["free", "pro", "team"])},
                source="system", created_at=person.created_at, updated_at=person.created_at,
            )  # fmt: skip
            rows.append(contact)
            values.append(
                FieldValue(
                    contact=contact, field=fields["lead_score"], value_number=person.lead_score
                )
            )
            values.append(
                FieldValue(contact=contact, field=fields["company"], value_text=person.company)
            )
            if rng.random() < 0.3:
                values.append(
                    FieldValue(
                        contact=contact, field=fields["premium"], value_bool=rng.random() < 0.5
                    )
                )
            tag_rows += [ContactTag(contact=contact, tag=tags[name]) for name in person.tags]
            for contact_list in lists:
                if rng.random() < (0.05 if contact_list.limit else 0.3):
                    members.append(ListMembership(contact=contact, list=contact_list))
            history.append(Interaction(
                contact=contact, kind="created", description="Contact created (demo data)",
                occurred_at=person.created_at, actor_kind=actor.kind, actor_label=actor.label,
            ))  # fmt: skip
        Contact.objects.bulk_create(rows, batch_size=500)
        FieldValue.objects.bulk_create(values, batch_size=500)
        ContactTag.objects.bulk_create(tag_rows, batch_size=500)
        # Respect list limits: keep the first members only.
        per_list: dict[int, int] = {}
        kept = []
        for member in members:
            per_list[member.list.pk] = per_list.get(member.list.pk, 0) + 1
            if member.list.limit is None or per_list[member.list.pk] <= member.list.limit:
                kept.append(member)
        ListMembership.objects.bulk_create(kept, batch_size=500)
        Interaction.objects.bulk_create(history, batch_size=500)
        # One entry per list with its own members: the Overview shows these first, and one
        # entry on the first list read as if that list had received every contact.
        for contact_list in lists:
            audit.record(
                actor=actor,
                action="demo.load",
                obj=contact_list,
                changes={"members": [0, sum(m.list.pk == contact_list.pk for m in kept)]},
            )
        self.stdout.write(
            f"Demo data: loaded {len(rows)} contacts, {len(tags)} tags, {len(lists)} lists."
        )
