"""Fill ``Contact.phone_type`` for contacts that have a phone, with phonenumbers (the same
labels as ``contacts.phones.TYPE_LABELS``). Chunked by primary key; one UPDATE per type per
chunk. A number phonenumbers cannot parse keeps "" (screening then works it out itself)."""

from __future__ import annotations

import phonenumbers
from django.db import migrations

from phonenumbers import PhoneNumberType as T

# As contacts.phones.TYPE_LABELS when this was written (a migration keeps its own copy).
TYPE_LABELS = {
    T.MOBILE: "mobile", T.FIXED_LINE: "fixed line", T.FIXED_LINE_OR_MOBILE: "fixed line or mobile",
    T.VOIP: "VoIP", T.TOLL_FREE: "toll free", T.PREMIUM_RATE: "premium rate",
    T.SHARED_COST: "shared cost", T.PERSONAL_NUMBER: "personal number", T.PAGER: "pager",
    T.UAN: "UAN", T.VOICEMAIL: "voicemail", T.UNKNOWN: "unknown",
}  # fmt: skip

CHUNK = 5000


def label(phone: str, cache: dict[str, str]) -> str:
    if phone not in cache:
        try:
            kind = phonenumbers.number_type(phonenumbers.parse(phone, None))
            cache[phone] = TYPE_LABELS.get(kind, "unknown")
        except phonenumbers.NumberParseException:
            cache[phone] = ""
    return cache[phone]


def backfill(apps, schema_editor):
    Contact = apps.get_model("contacts", "Contact")
    todo = Contact.objects.filter(phone_type="").exclude(phone="").order_by("pk")
    cache: dict[str, str] = {}
    last = None
    while True:
        page = todo if last is None else todo.filter(pk__gt=last)
        rows = list(page.values_list("pk", "phone")[:CHUNK])
        if not rows:
            break
        last = rows[-1][0]
        by_type: dict[str, list] = {}
        for pk, phone in rows:
            by_type.setdefault(label(phone, cache), []).append(pk)
        for kind, ids in by_type.items():
            if kind:
                for start in range(0, len(ids), 500):  # SQLite's parameter limit
                    Contact.objects.filter(pk__in=ids[start : start + 500]).update(phone_type=kind)
        if len(cache) > 200_000:
            cache.clear()


def vacuum(apps, schema_editor):
    """PostgreSQL: every contact row was rewritten, which clears the visibility map, so index-only
    scans (search, segment counts) would read the table until autovacuum comes by."""
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) contacts_contact")


class Migration(migrations.Migration):
    # Not one transaction: each chunk commits as it goes, and VACUUM cannot run inside one.
    atomic = False
    dependencies = [("contacts", "0008_add_contact_phone_type")]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(vacuum, migrations.RunPython.noop, elidable=True),
    ]
