"""The audit trail's staff-user and agent-action indexes hold only the entries that have one.

Most entries (imports, agents, the system) have neither, and each was still an insert in
both indexes. The old full indexes are dropped by name (an ``AlterField`` would copy the
whole table on SQLite), the partial ones created; lookups by a user or an action (``=``,
``IN``) imply the condition on both databases.
"""

from django.conf import settings
from django.db import migrations, models

COLUMNS = ("actor_user_id", "agent_action_id")


def _names(schema_editor):
    for column in COLUMNS:
        yield column, schema_editor._create_index_name("dashboard_auditentry", [column])


def drop(apps, schema_editor):
    for _, name in _names(schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def restore(apps, schema_editor):
    quote = schema_editor.quote_name
    for column, name in _names(schema_editor):
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(name)} ON dashboard_auditentry ({quote(column)})"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0004_add_worker_heartbeat"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, restore, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="auditentry",
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
                    model_name="auditentry",
                    name="agent_action_id",
                    field=models.BigIntegerField(blank=True, null=True),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(
                condition=models.Q(("actor_user__isnull", False)),
                fields=["actor_user"],
                name="audit_actor_user",
            ),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(
                condition=models.Q(("agent_action_id__isnull", False)),
                fields=["agent_action_id"],
                name="audit_agent_action",
            ),
        ),
    ]
