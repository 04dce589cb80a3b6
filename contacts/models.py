"""The contacts domain: people, their custom field values, lists, tags and history.

Writes go through ``contacts.services``; these classes hold the data and small read helpers.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable

from django.conf import settings
from django.db import models
from django.db.models import Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact, In
from django.utils import timezone

from dashboard.actors import ActorKind
from dashboard.uuids import uuid7


class Consent(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    GRANTED = "granted", "Granted"
    WITHDRAWN = "withdrawn", "Withdrawn"


class NamedQuerySet(models.QuerySet):
    """For models whose name is unique case-insensitively through a ``Lower("name")`` index."""

    def named(self, name: str) -> NamedQuerySet:
        # The very expression the unique index holds, so the lookup is an index probe on both
        # databases and agrees with the constraint about which names are the same. (``iexact``
        # is UPPER() on PostgreSQL and LIKE on SQLite: a scan of the table on each.)
        return self.filter(Exact(Lower("name"), Lower(Value(name))))

    def named_any(self, names: Iterable[str]) -> NamedQuerySet:
        """Those with any of these names, compared as ``named`` compares (index probes)."""
        return self.filter(In(Lower("name"), [Lower(Value(name)) for name in names]))


class ContactQuerySet(models.QuerySet["Contact"]):
    def reachable_by_sms(self) -> ContactQuerySet:
        return self.exclude(phone="").filter(unsubscribed_at__isnull=True)


class Contact(models.Model):
    # Time-ordered (UUIDv7): new contacts land at the end of the primary key and of every
    # contact_id index instead of on random pages. Older contacts keep their random ids.
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Stored lower-cased, so the unique index makes email unique case-insensitively.
    email = models.CharField(max_length=254, unique=True)
    # E.164 ("+447700900123") or empty; phone_country is its ISO region ("GB").
    phone = models.CharField(max_length=16, blank=True, default="")
    phone_country = models.CharField(max_length=2, blank=True, default="")
    # What kind of number it is (contacts.phones.TYPE_LABELS: "mobile", "fixed line", …), set
    # with the phone so campaigns screen a large audience with a query; "" = not worked out.
    phone_type = models.CharField(max_length=24, blank=True, default="")
    first_name = models.CharField(max_length=100, blank=True, default="")
    last_name = models.CharField(max_length=100, blank=True, default="")
    # Lower-cased, accent-free copies of the names: what name search compares against.
    first_name_key = models.CharField(max_length=100, blank=True, default="", editable=False)
    last_name_key = models.CharField(max_length=100, blank=True, default="", editable=False)
    email_consent = models.CharField(
        max_length=10, choices=Consent.choices, default=Consent.UNKNOWN
    )
    sms_consent = models.CharField(max_length=10, choices=Consent.choices, default=Consent.UNKNOWN)
    # Permanent unsubscribe: once set, no marketing of any kind, whatever the consent says.
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    source = models.CharField(
        max_length=10, choices=[(k.value, k.value) for k in ActorKind], default=ActorKind.STAFF
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # When a message last went out to this person (bumped by history.mark_contacted); segment
    # rules on "last contacted" read this column instead of scanning the interaction log.
    last_contacted_at = models.DateTimeField(null=True, blank=True)
    # Optimistic locking: every update bumps it; an edit based on an older version is refused.
    version = models.PositiveIntegerField(default=1)

    tags = models.ManyToManyField("Tag", through="ContactTag", related_name="contacts")
    lists = models.ManyToManyField("ContactList", through="ListMembership", related_name="contacts")

    objects = ContactQuerySet.as_manager()

    class Meta:
        indexes = [
            # Prefix search. On PostgreSQL the pattern_ops opclass lets LIKE 'abc%' use the
            # index whatever the database collation; SQLite ignores opclasses and range-scans.
            # (Email needs none of its own: Django gives a unique CharField a pattern_ops
            # "_like" index on PostgreSQL, and on SQLite the unique index is the same B-tree.)
            models.Index(
                fields=["phone"], name="contact_phone_prefix", opclasses=["varchar_pattern_ops"]
            ),
            # Name prefixes, with the other name in the index so "alice s" is answered from
            # the alice… entries without reading every row whose last name starts with "s".
            models.Index(
                fields=["first_name_key", "last_name_key"],
                name="contact_first_prefix",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["last_name_key", "first_name_key"],
                name="contact_last_prefix",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
            ),
            # Sorting the list (PostgreSQL only: on SQLite, which ignores opclasses, it would be
            # a second copy of contact_last_prefix, so migration 0008 drops it there).
            models.Index(fields=["last_name_key", "first_name_key"], name="contact_name_sort"),
            # Newest first, the default order. The searched columns ride along so SQLite can
            # walk this index and test a broad search ("smi") without reading the rows.
            models.Index(
                fields=["-updated_at", "first_name_key", "last_name_key", "email", "phone"],
                name="contact_updated",
            ),
            models.Index(fields=["-created_at"], name="contact_created"),
            models.Index(fields=["phone_country"], name="contact_phone_country"),
            models.Index(fields=["last_contacted_at"], name="contact_last_contacted"),
            # Segment rules probe contacts by id and test the country: covering, SQLite answers
            # from the index alone instead of a second lookup in the table.
            models.Index(fields=["id", "phone_country"], name="contact_id_country"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_unsubscribed(self) -> bool:
        return self.unsubscribed_at is not None


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Boolean"


class Field(models.Model):
    """A custom field definition; values live in FieldValue, one typed column per type."""

    name = models.CharField(max_length=64)
    type = models.CharField(max_length=10, choices=FieldType.choices)
    created_at = models.DateTimeField(default=timezone.now)

    objects = NamedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="field_name_unique_ci")]

    def __str__(self) -> str:
        return self.name

    @property
    def value_column(self) -> str:
        return VALUE_COLUMNS[FieldType(self.type)]


VALUE_COLUMNS = {
    FieldType.TEXT: "value_text",
    FieldType.NUMBER: "value_number",
    FieldType.DATE: "value_date",
    FieldType.BOOLEAN: "value_bool",
}


class FieldValue(models.Model):
    # No single-column indexes: fieldvalue_one_per_contact leads with the contact and the
    # value indexes lead with the field (every index is one more B-tree insert per value).
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="field_values", db_index=False
    )
    field = models.ForeignKey(
        Field, on_delete=models.CASCADE, related_name="values", db_index=False
    )
    value_text = models.TextField(null=True, blank=True)
    value_number = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    value_date = models.DateField(null=True, blank=True)
    value_bool = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "field"], name="fieldvalue_one_per_contact")
        ]
        # "field = X and value > Y" is how values are filtered: lead with the field. Each
        # index holds only the values of its type (a comparison or IS NOT NULL implies the
        # condition, on both databases), so a value costs one index insert, not four.
        indexes = [
            # With the contact last, "lead_score > 50" is an index-only scan on PostgreSQL.
            models.Index(
                fields=["field", "value_number", "contact"],
                name="fieldvalue_number",
                condition=models.Q(value_number__isnull=False),
            ),
            models.Index(
                fields=["field", "value_date"],
                name="fieldvalue_date",
                condition=models.Q(value_date__isnull=False),
            ),
            models.Index(
                fields=["field", "value_bool"],
                name="fieldvalue_bool",
                condition=models.Q(value_bool__isnull=False),
            ),
            models.Index(
                fields=["field", "value_text"],
                name="fieldvalue_text",
                condition=models.Q(value_text__isnull=False),
            ),
        ]

    @property
    def value(self):
        return getattr(self, self.field.value_column)

    @property
    def display_value(self) -> str:
        """The value as staff read and type it: 42 not 42.000000, yes/no for booleans."""
        value = self.value
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, decimal.Decimal):
            return format(value.normalize(), "f")
        return str(value)

    @property
    def form_value(self) -> str:
        value = self.value
        if isinstance(value, bool):
            return "true" if value else "false"
        return self.display_value


class ContactList(models.Model):
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True, default="")
    # None means unlimited.
    limit = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ListMembership(models.Model):
    # Indexed by listmembership_unique (list first) and listmembership_contact.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="list_memberships", db_index=False
    )
    list = models.ForeignKey(
        ContactList, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["list", "contact"], name="listmembership_unique")
        ]
        indexes = [models.Index(fields=["contact"], name="listmembership_contact")]


class Tag(models.Model):
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    objects = NamedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_name_unique_ci")]

    def __str__(self) -> str:
        return self.name


class ContactTag(models.Model):
    # Indexed by contacttag_unique (tag first) and contacttag_contact.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="contact_tags", db_index=False
    )
    tag = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="contact_tags", db_index=False
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "contact"], name="contacttag_unique")]
        indexes = [models.Index(fields=["contact"], name="contacttag_contact")]


class InteractionKind(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    TAGGED = "tagged", "Tagged"
    UNTAGGED = "untagged", "Untagged"
    LIST_ADDED = "list_added", "Added to list"
    LIST_REMOVED = "list_removed", "Removed from list"
    CONSENT = "consent", "Consent changed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    EVENT = "event", "Event"
    NOTE = "note", "Note"
    SMS_SENT = "sms_sent", "SMS sent"
    SMS_RECEIVED = "sms_received", "SMS received"


class Interaction(models.Model):
    """What happened with a contact, when, and by whom: the contact's history.

    Events from other systems ("email_opened" with params) are interactions of kind ``event``
    with ``name`` and ``data``; segment rules query them.
    """

    # Indexed by interaction_contact_at, which leads with the contact.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    kind = models.CharField(max_length=20, choices=InteractionKind.choices)
    name = models.CharField(max_length=100, blank=True, default="")
    description = models.CharField(max_length=500, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor_kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in ActorKind])
    # Indexed by interaction_actor_user (only the entries that have one).
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    actor_ref = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-occurred_at"], name="interaction_contact_at"),
            models.Index(fields=["kind", "name", "occurred_at"], name="interaction_event"),
            # Imports, agents and the system leave it empty: they cost no insert here.
            models.Index(
                fields=["actor_user"],
                name="interaction_actor_user",
                condition=models.Q(actor_user__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}".strip()


class SuppressionKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"


class Suppression(models.Model):
    """Someone who must not be re-added as a marketing contact, kept only as a salted hash.

    Written when a contact is erased (GDPR) or permanently unsubscribes; imports and agent
    upserts check it. No clear-text personal data lives here.
    """

    kind = models.CharField(max_length=5, choices=SuppressionKind.choices)
    value_hash = models.CharField(max_length=64)
    reason = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value_hash"], name="suppression_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind} suppressed ({self.reason})"


class Segment(models.Model):
    """A saved audience: contacts matching ``rules`` (see ``contacts.segments.rules``).

    Membership is never stored: the rules compile to one query, so a segment is always current.
    """

    name = models.CharField(max_length=100)
    rules = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DismissedDuplicate(models.Model):
    """Two contacts staff checked and found to be different people: never suggested again.

    ``contact_a`` holds the lower id, so a pair has one row whichever way round it was
    dismissed. Rows go with either contact (erasure, merge, import revert all delete contacts).
    """

    # contact_a is indexed by dismissedduplicate_pair (it leads), contact_b by its own index.
    contact_a = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    contact_b = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    dismissed_at = models.DateTimeField(default=timezone.now)
    # Who dismissed it, copied from the actor so the row outlives the user.
    actor_kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in ActorKind])
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_ref = models.CharField(max_length=64, blank=True, default="")
    actor_label = models.CharField(max_length=150)

    class Meta:
        ordering = ["-dismissed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact_a", "contact_b"], name="dismissedduplicate_pair"
            ),
            # UUIDs order the same in Python, PostgreSQL (uuid) and SQLite (lower-case hex).
            models.CheckConstraint(
                condition=models.Q(contact_a__lt=models.F("contact_b")),
                name="dismissedduplicate_ordered",
            ),
        ]
        indexes = [models.Index(fields=["contact_b"], name="dismissedduplicate_contact_b")]

    def __str__(self) -> str:
        return f"not-a-duplicate #{self.pk}"  # no names: this lands in audit entries
