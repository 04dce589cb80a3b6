"""Make the sandbox ready to send: default prices and a credit top-up (once)."""

from __future__ import annotations

from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction

from dashboard.actors import Actor
from sms.models import CreditEntry
from sms.services import credits


class Command(BaseCommand):
    help = "Seed SMS prices and top up demo credits, only if no credits were ever added."

    def add_arguments(self, parser):
        parser.add_argument("--credits", dest="amount", type=Decimal, default=Decimal("100"))

    @transaction.atomic
    def handle(self, *args, amount: Decimal, **options):
        credits.ensure_default_prices()
        credits.ensure_account()
        if CreditEntry.objects.filter(kind="topup").exists():
            self.stdout.write("SMS demo: credits were already added; nothing to do.")
            return
        credits.top_up(actor=Actor.system("demo data"), amount=amount, note="Demo credit")
        self.stdout.write(f"SMS demo: added {amount} credits (sandbox gateway: nothing leaves).")
