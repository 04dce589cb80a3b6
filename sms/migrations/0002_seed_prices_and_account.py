"""Seed the per-segment price table and the (empty) credit account."""

from decimal import Decimal

from django.db import migrations

# A copy, not an import: migrations must not change when the service's defaults do.
PRICES = {
    "GB": "0.0400", "IE": "0.0700", "US": "0.0100", "CA": "0.0100", "FR": "0.0750",
    "DE": "0.0850", "ES": "0.0650", "IT": "0.0700", "NL": "0.0900", "BE": "0.0800",
    "PT": "0.0400", "PL": "0.0350", "SE": "0.0600", "AU": "0.0550", "IN": "0.0100",
    "*": "0.1000",
}


def seed(apps, schema_editor):
    Price = apps.get_model("sms", "Price")
    CreditAccount = apps.get_model("sms", "CreditAccount")
    for country, price in PRICES.items():
        Price.objects.get_or_create(country=country, defaults={"per_segment": Decimal(price)})
    CreditAccount.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("sms", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
