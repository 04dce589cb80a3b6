"""Top-ups carry the key of the form they came from, so a second click on "Add credits" adds
nothing. The unique index is partial: it holds only keyed entries (top-ups), not the ledger's
row per message, so it costs nothing on the hot path and is built at once on a big ledger."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sms", "0004_message_campaign_status_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="creditentry",
            name="idempotency_key",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddConstraint(
            model_name="creditentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_key__isnull", False)),
                fields=("idempotency_key",),
                name="sms_creditentry_idempotency_key",
            ),
        ),
    ]
