"""The history's staff-user index holds only the entries that have one (imports, agents and
the system leave it empty). Dropped by name: an ``AlterField`` would copy the table on SQLite.
"""

from django.conf import settings
from django.db import migrations, models


def _name(schema_editor):
    return schema_editor._create_index_name("contacts_interaction", ["actor_user_id"])


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(_name(schema_editor))}")


def restore(apps, schema_editor):
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(_name(schema_editor))} "
        'ON contacts_interaction ("actor_user_id")'
    )


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0012_fieldvalue_indexes_hold_only_their_type"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, restore, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="interaction",
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
            ],
        ),
        migrations.AddIndex(
            model_name="interaction",
            index=models.Index(
                condition=models.Q(("actor_user__isnull", False)),
                fields=["actor_user"],
                name="interaction_actor_user",
            ),
        ),
    ]
