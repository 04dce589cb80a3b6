"""Drop indexes that duplicate another index: each one is a B-tree insert per row written.

- Foreign keys covered by a composite index that leads with the same column: field values
  (fieldvalue_one_per_contact leads with the contact, the value indexes with the field), tags
  and list memberships (their unique pair leads with the tag / list, and each has its own
  contact index already), interactions (interaction_contact_at leads with the contact).
- contact_email_prefix: on PostgreSQL Django already gives the unique email column a
  varchar_pattern_ops "_like" index, on SQLite the unique index is the same B-tree.
- contact_name_sort on SQLite only: SQLite ignores opclasses, so there it is a second copy of
  contact_last_prefix. PostgreSQL keeps it (its pattern_ops twin cannot serve ORDER BY).

The indexes are dropped by name (``DROP INDEX``) instead of ``AlterField``, which on SQLite
would copy each whole table.
"""

from django.db import migrations, models

# (model, field) whose own single-column index goes.
FOREIGN_KEYS = (
    ("fieldvalue", "contact"),
    ("fieldvalue", "field"),
    ("contacttag", "contact"),
    ("contacttag", "tag"),
    ("listmembership", "contact"),
    ("listmembership", "list"),
    ("interaction", "contact"),
)


def _fk_indexes(apps, schema_editor):
    for model_name, field_name in FOREIGN_KEYS:
        model = apps.get_model("contacts", model_name)
        column = model._meta.get_field(field_name).column
        table = model._meta.db_table
        yield table, column, schema_editor._create_index_name(table, [column])


def drop(apps, schema_editor):
    quote = schema_editor.quote_name
    for _, _, name in _fk_indexes(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {quote(name)}")
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute('DROP INDEX IF EXISTS "contact_name_sort"')


def restore(apps, schema_editor):
    quote = schema_editor.quote_name
    # _fk_indexes reads the state before this migration, where db_index is still True.
    for table, column, name in _fk_indexes(apps, schema_editor):
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} ({quote(column)})"
        )
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            'CREATE INDEX IF NOT EXISTS "contact_name_sort" '
            'ON "contacts_contact" ("last_name_key", "first_name_key")'
        )


def _without_index(model: str, field: str, target: str, related_name: str):
    return migrations.AlterField(
        model_name=model,
        name=field,
        field=models.ForeignKey(
            db_index=False,
            on_delete=models.deletion.CASCADE,
            related_name=related_name,
            to=target,
        ),
    )


class Migration(migrations.Migration):
    dependencies = [("contacts", "0009_backfill_contact_phone_type")]

    operations = [
        migrations.RemoveIndex(model_name="contact", name="contact_email_prefix"),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, restore, elidable=False)],
            state_operations=[
                _without_index("fieldvalue", "contact", "contacts.contact", "field_values"),
                _without_index("fieldvalue", "field", "contacts.field", "values"),
                _without_index("contacttag", "contact", "contacts.contact", "contact_tags"),
                _without_index("contacttag", "tag", "contacts.tag", "contact_tags"),
                _without_index(
                    "listmembership", "contact", "contacts.contact", "list_memberships"
                ),
                _without_index("listmembership", "list", "contacts.contactlist", "memberships"),
                _without_index("interaction", "contact", "contacts.contact", "interactions"),
            ],
        ),
    ]
