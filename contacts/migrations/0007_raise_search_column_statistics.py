"""PostgreSQL: finer statistics on the searched columns, so prefix searches are estimated well.

With the default target (100) most names fall outside the most-common-values list and
"santos%" is estimated at ~90 rows instead of ~9,000 at a million contacts; the planner then
reads every match and sorts instead of walking the newest-first index (or the reverse).
SQLite has no such statistics; contacts.services.search counts matches itself there.
"""

from django.db import migrations

COLUMNS = ("first_name_key", "last_name_key", "email", "phone")


def _set_statistics(target: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for column in COLUMNS:
            schema_editor.execute(
                f'ALTER TABLE contacts_contact ALTER COLUMN "{column}" SET STATISTICS {target}'
            )
        schema_editor.execute(f"ANALYZE contacts_contact ({', '.join(COLUMNS)})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("contacts", "0006_updated_index_covers_searched_columns")]

    operations = [migrations.RunPython(_set_statistics(1000), _set_statistics(-1), elidable=False)]
