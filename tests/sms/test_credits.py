"""Credits: top-ups, prices, and a balance that stays exact and never negative."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.models import AuditEntry
from sms.models import CreditAccount, CreditEntry, Message, Price
from sms.services import credits
from sms.services.messages import send_sms

from .conftest import MOBILE


@pytest.mark.django_db
def test_a_top_up_adds_to_the_balance_and_the_ledger(priced, system_actor):
    credits.top_up(actor=system_actor, amount=Decimal("25.5"), note="invoice 12")
    assert credits.get_balance() == Decimal("25.5")
    entry = CreditEntry.objects.get()
    assert (entry.kind, entry.amount, entry.note) == ("topup", Decimal("25.5"), "invoice 12")
    # What the audit trail and the home page's recent changes name it.
    assert AuditEntry.objects.get(action="sms.top_up").object_repr == "Top-up +25.5 credits"


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1.00001", "NaN", "Infinity", "2000000"])
def test_a_bad_top_up_is_refused(priced, system_actor, amount):
    with pytest.raises(SwitchboardError) as caught:
        credits.top_up(actor=system_actor, amount=amount)
    assert caught.value.code == "invalid_amount"
    assert credits.get_balance() == 0


@pytest.mark.django_db
def test_an_admin_sets_a_price_and_it_applies_to_the_next_send(funded, system_actor):
    credits.set_price(actor=system_actor, country="gb", per_segment=Decimal("0.05"))
    assert Price.objects.get(country="GB").per_segment == Decimal("0.05")
    assert send_sms(actor=system_actor, to=MOBILE, text="x").message.price == Decimal("0.05")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("country", "price"), [("GBR", "0.1"), ("1", "0.1"), ("FR", "0"), ("FR", "-1")]
)
def test_a_bad_price_is_refused(priced, system_actor, country, price):
    with pytest.raises(SwitchboardError):
        credits.set_price(actor=system_actor, country=country, per_segment=price)


@pytest.mark.django_db
@pytest.mark.parametrize(("country", "hint"), [("UK", "GB"), ("ÉÉ", ""), ("XX", "")])
def test_a_price_for_a_code_no_number_has_is_refused(priced, system_actor, country, hint):
    # Texts are priced by their number's region (GB for a UK mobile): a price kept under "UK"
    # would never apply, and the admin would think it did.
    with pytest.raises(SwitchboardError) as caught:
        credits.set_price(actor=system_actor, country=country, per_segment=Decimal("0.05"))
    assert caught.value.code == "invalid_country"
    assert hint in caught.value.message
    assert not Price.objects.filter(country=country.upper()).exists()


@pytest.mark.django_db
def test_a_refund_happens_once_however_often_it_is_asked_for(funded, system_actor):
    message = send_sms(actor=system_actor, to=MOBILE, text="x").message
    assert credits.refund(messages=[message], actor=system_actor, note="failed") == 1
    assert credits.refund(messages=[message], actor=system_actor, note="failed again") == 0
    assert credits.get_balance() == Decimal("10")
    assert credits.ledger_total() == Decimal("10")


@pytest.mark.django_db
def test_the_balance_cannot_be_pushed_below_zero_directly(priced):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(pk=1).update(balance=Decimal("-1"))


@pytest.mark.django_db(transaction=True)
def test_many_concurrent_senders_never_overdraw_and_the_ledger_stays_exact(priced):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need a server database (SQLite serialises them anyway)")
    actor = Actor.system("tests")
    credits.top_up(actor=actor, amount=Decimal("1.00"))  # 25 messages at 0.04
    threads, attempts = 16, 5
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def sender(n: int) -> None:
        start.wait()
        try:
            for i in range(attempts):
                try:
                    send_sms(actor=actor, to=MOBILE, text=f"t{n}-{i}")
                    outcome = "sent"
                except SwitchboardError as exc:
                    outcome = exc.code
                with lock:
                    results.append(outcome)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=sender, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert len(results) == threads * attempts
    assert results.count("sent") == 25
    assert set(results) == {"sent", "insufficient_credits"}
    assert credits.get_balance() == Decimal("0")
    assert credits.ledger_total() == credits.get_balance()
    assert Message.objects.count() == 25
    assert CreditEntry.objects.filter(kind="charge").count() == 25
