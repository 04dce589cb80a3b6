"""SMS fixtures: priced and funded credits, a contact with consent, the sandbox outbox."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contacts.services.contacts import create_contact
from dashboard.actors import Actor
from sms.gateways import sandbox
from sms.services import credits

MOBILE = "+447400123456"  # GB mobile: 0.04 credits a segment
REJECTED = "+447400123000"  # sandbox test numbers, see sms/gateways/sandbox.py
UNDELIVERED = "+447400123111"
UNREACHABLE = "+447400123222"
LANDLINE = "+442079460000"


@pytest.fixture(autouse=True)
def _sandbox(settings):
    settings.SMS_GATEWAY = "sandbox"
    settings.SMS_QUIET_HOURS = "00:00-00:00"  # no quiet hours unless a test sets them
    sandbox.OUTBOX.clear()


@pytest.fixture
def priced(db):
    """Default prices and the credit account (a flushing test loses the seeded rows)."""
    credits.ensure_default_prices()
    credits.ensure_account()


@pytest.fixture
def funded(priced):
    credits.top_up(actor=Actor.system("tests"), amount=Decimal("10"), note="test credit")
    return Decimal("10")


@pytest.fixture
def contact(db, system_actor):
    return create_contact(
        actor=system_actor, email="alice@example.com", phone=MOBILE, first_name="Alice",
        last_name="Smith", sms_consent="granted",
    )  # fmt: skip
