"""New contacts get time-ordered ids (UUIDv7) instead of random ones (UUIDv4).

Only the Python-side default changes, so the database is left alone (on SQLite an
``AlterField`` would copy the whole contacts table for nothing). Existing ids stay valid.
"""

from django.db import migrations, models

import dashboard.uuids


class Migration(migrations.Migration):
    dependencies = [("contacts", "0010_drop_duplicate_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="contact",
                    name="id",
                    field=models.UUIDField(
                        default=dashboard.uuids.uuid7,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                )
            ]
        )
    ]
