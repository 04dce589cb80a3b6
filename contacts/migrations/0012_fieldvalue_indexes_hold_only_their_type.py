"""Each custom-field value index holds only the values of its type (partial indexes).

A value row fills one of four typed columns; the other three are NULL, and every NULL was an
entry in three indexes that no query reads (comparisons and IS NOT NULL imply the condition,
on SQLite and PostgreSQL alike). Now writing a value is one index insert instead of four.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0011_contact_id_uuid7"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="fieldvalue",
            name="fieldvalue_date",
        ),
        migrations.RemoveIndex(
            model_name="fieldvalue",
            name="fieldvalue_bool",
        ),
        migrations.RemoveIndex(
            model_name="fieldvalue",
            name="fieldvalue_text",
        ),
        migrations.RemoveIndex(
            model_name="fieldvalue",
            name="fieldvalue_number",
        ),
        migrations.AddIndex(
            model_name="fieldvalue",
            index=models.Index(
                condition=models.Q(("value_number__isnull", False)),
                fields=["field", "value_number", "contact"],
                name="fieldvalue_number",
            ),
        ),
        migrations.AddIndex(
            model_name="fieldvalue",
            index=models.Index(
                condition=models.Q(("value_date__isnull", False)),
                fields=["field", "value_date"],
                name="fieldvalue_date",
            ),
        ),
        migrations.AddIndex(
            model_name="fieldvalue",
            index=models.Index(
                condition=models.Q(("value_bool__isnull", False)),
                fields=["field", "value_bool"],
                name="fieldvalue_bool",
            ),
        ),
        migrations.AddIndex(
            model_name="fieldvalue",
            index=models.Index(
                condition=models.Q(("value_text__isnull", False)),
                fields=["field", "value_text"],
                name="fieldvalue_text",
            ),
        ),
    ]
