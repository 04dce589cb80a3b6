"""Fewer indexes on the message table, each written on every insert and status change.

- The claim column index goes: a claim is one UPDATE … RETURNING on both databases now.
- The contact index goes: sms_message_contact (contact first) serves the same look-ups.
- The staff-user index holds only the messages a user sent (campaigns, agents and the system
  leave it empty), as for the contact history (contacts 0013).
- The idempotency key keeps its unique index but loses, on PostgreSQL, the LIKE
  (``varchar_pattern_ops``) twin Django adds to unique text columns: nothing searches keys by
  prefix.
- A partial index holds the send queue in claim order.

Indexes are dropped by name: an ``AlterField`` would copy the table on SQLite.
"""

from django.conf import settings
from django.db import migrations, models


def _fk_index(schema_editor, column):
    return schema_editor._create_index_name("sms_message", [column])


def _like_index(schema_editor):
    return schema_editor._create_index_name("sms_message", ["idempotency_key"], suffix="_like")


def drop(apps, schema_editor):
    names = [_fk_index(schema_editor, "contact_id"), _fk_index(schema_editor, "actor_user_id")]
    if schema_editor.connection.vendor == "postgresql":
        names.append(_like_index(schema_editor))
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def restore(apps, schema_editor):
    for column in ("contact_id", "actor_user_id"):
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(_fk_index(schema_editor, column))} "
            f'ON sms_message ("{column}")'
        )
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(_like_index(schema_editor))} "
            'ON sms_message ("idempotency_key" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("sms", "0002_seed_prices_and_account"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="message", name="sms_message_claim"),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, restore, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="actor_user",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="contact",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.SET_NULL,
                        related_name="sms",
                        to="contacts.contact",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "scheduled"])),
                fields=["id"],
                name="sms_message_claimable",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("actor_user__isnull", False)),
                fields=["actor_user"],
                name="sms_message_actor_user",
            ),
        ),
    ]
