"""Campaign fixtures: priced and funded credits, an audience with one contact of each kind
that a campaign must leave out, and helpers to drive a campaign without a task worker."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contacts.models import Tag
from contacts.services.contacts import create_contact
from contacts.services.segments import create_segment
from dashboard.actors import Actor
from sms.campaigns.models import Campaign
from sms.campaigns.services.campaigns import run_campaign
from sms.gateways import sandbox
from sms.services import credits, optouts
from sms.services.messages import send_due_messages

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def _sandbox(settings):
    settings.SMS_GATEWAY = "sandbox"
    settings.SMS_QUIET_HOURS = "00:00-00:00"  # none unless a test sets them
    settings.SMS_RATE_LIMITS = {}
    settings.CAMPAIGN_BATCH_SIZE = 2
    sandbox.OUTBOX.clear()


@pytest.fixture
def balance(db) -> Decimal:
    credits.ensure_default_prices()
    credits.ensure_account()
    credits.top_up(actor=SYSTEM, amount=Decimal("100"), note="test credit")
    return Decimal("100")


def person(email: str, phone: str, tag: str = "black-friday", **extra):
    extra.setdefault("sms_consent", "granted")
    return create_contact(
        actor=SYSTEM, email=email, phone=phone, first_name=email.split("@")[0].title(),
        tags=[tag] if tag else [], **extra,
    )  # fmt: skip


@pytest.fixture
def audience(balance) -> dict:
    """Four who can be texted (GB x2, FR, US) and one of each kind that cannot."""
    people = {
        "alice": person("alice@example.com", "+447400100001"),
        "bob": person("bob@example.com", "+447400100002"),
        "chloe": person("chloe@example.com", "+33612345678"),
        "dan": person("dan@example.com", "+12025550123"),
        "landline": person("landline@example.com", "+442079460000"),
        "nophone": person("nophone@example.com", ""),
        "stopped": person("stopped@example.com", "+447400100003"),
        "unsubscribed": person("unsub@example.com", "+447400100004"),
        "noconsent": person("noconsent@example.com", "+447400100005", sms_consent="unknown"),
    }
    optouts.add_opt_out(actor=SYSTEM, phone="+447400100003", reason="STOP")
    from django.utils import timezone

    from contacts.models import Contact

    Contact.objects.filter(pk=people["unsubscribed"].pk).update(unsubscribed_at=timezone.now())
    people["tag"] = Tag.objects.get(name="black-friday")
    people["segment"] = create_segment(
        actor=SYSTEM, name="Black Friday",
        rules={"all": [{"field": "tag", "op": "has", "value": people["tag"].pk}]},
    )  # fmt: skip
    return people


def ledger_balances() -> bool:
    """The ledger sums to the balance (to the cent's hundredth: SQLite adds decimals as floats)."""
    return credits.ledger_total().quantize(Decimal("0.0001")) == credits.get_balance()


def drive(campaign: Campaign, rounds: int = 10) -> Campaign:
    """What the workers do: heartbeats and sending, until the campaign stops changing."""
    for _ in range(rounds):
        run_campaign(campaign_id=campaign.pk)
        send_due_messages()
        campaign.refresh_from_db()
        if campaign.status in ("completed", "cancelled"):
            break
    return campaign
