"""A number that says STOP after its message was queued is not texted when the worker sends."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dashboard.actors import Actor
from sms.models import CreditEntry, Message
from sms.services import credits, messages, optouts

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(staff_user):
    credits.top_up(actor=Actor.staff(staff_user), amount=Decimal("10"))


def test_a_queued_message_to_a_number_that_opted_out_since_is_cancelled_and_refunded(
    funded, staff_user
):
    actor = Actor.staff(staff_user)
    queued = messages.send_sms(
        actor=actor, to="+447700123456", text="Sale today!", kind="transactional"
    ).message
    other = messages.send_sms(
        actor=actor, to="+447700123457", text="Sale today!", kind="transactional"
    ).message
    balance_after_queueing = credits.get_balance()
    optouts.add_opt_out(actor=Actor.system("inbound"), phone="+447700123456", reason="STOP")

    stats = messages.send_due_messages(message_ids=[queued.pk, other.pk])

    queued.refresh_from_db()
    other.refresh_from_db()
    assert queued.status == "cancelled" and queued.error_code == "opted_out"
    assert "opted out" in queued.error_message
    assert other.status == "sent"
    assert stats.errors["opted_out"] == 1 and stats.sent == 1
    assert credits.get_balance() == balance_after_queueing + queued.price
    assert CreditEntry.objects.filter(message=queued, kind="refund").count() == 1
    assert list(queued.events.values_list("status", flat=True)).count("cancelled") == 1
    assert Message.objects.filter(status="sending").count() == 0
