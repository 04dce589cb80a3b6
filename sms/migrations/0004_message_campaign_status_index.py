"""The campaign index also holds each message's status and due time, so the campaign
heartbeat's "any message still in flight / due?" is one index probe instead of a walk through
every message the campaign has sent. It replaces the campaign-only index (same count of
indexes to write); the new one is built before the old one goes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sms", "0003_message_fewer_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=["campaign_id", "status", "send_after"], name="sms_message_campaign_status"
            ),
        ),
        migrations.RemoveIndex(
            model_name="message",
            name="sms_message_campaign",
        ),
    ]
