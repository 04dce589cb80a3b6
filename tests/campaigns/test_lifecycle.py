"""A campaign's life: start, fan out, send, finish; pause, resume, cancel; a second click;
failures refunded; the ledger always equal to the balance; send again to the failed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from contacts.services.contacts import create_contact
from dashboard.errors import SwitchboardError
from sms.campaigns.models import Batch, Campaign, Recipient
from sms.campaigns.services.campaigns import (
    cancel_campaign,
    create_batch,
    pause_campaign,
    resend_failed,
    resume_campaign,
    run_campaign,
    start_campaign,
    update_campaign,
)
from sms.gateways import sandbox
from sms.models import Message
from sms.services import credits
from sms.services.messages import send_due_messages

from .conftest import SYSTEM, drive, ledger_balances

pytestmark = pytest.mark.django_db


def ledger_matches_balance() -> bool:
    return ledger_balances()


def start(audience, **kwargs) -> Campaign:
    kwargs.setdefault("text", "Hi {first_name}, 20% off today")
    return start_campaign(actor=SYSTEM, audience_kind="tag", audience_id=audience["tag"].pk,
                          **kwargs).campaign  # fmt: skip


def test_a_campaign_sends_one_message_to_each_recipient_and_completes(audience):
    campaign = drive(start(audience))

    assert campaign.status == "completed"
    assert sorted(s.to for s in sandbox.OUTBOX) == [
        "+12025550123", "+33612345678", "+447400100001", "+447400100002",
    ]  # fmt: skip
    assert {s.text for s in sandbox.OUTBOX if s.to == "+447400100001"} == {
        "Hi Alice, 20% off today"
    }
    assert campaign.batches_done == campaign.batches_total == 2
    assert campaign.reserved == 0
    assert credits.get_balance() == Decimal("100") - Decimal("0.1650")
    assert ledger_matches_balance()


def test_starting_freezes_the_recipients_and_reserves_their_cost(audience):
    campaign = start(audience)
    run_campaign_start_only(campaign)

    campaign.refresh_from_db()
    assert campaign.status == "running"
    assert Recipient.objects.filter(campaign=campaign).count() == 4
    assert credits.get_balance() == Decimal("99.8350")
    assert ledger_matches_balance()
    # Someone joining the audience now is not added to a started campaign.
    create_contact(actor=SYSTEM, email="late@example.com", phone="+447400100099",
                   sms_consent="granted", tags=["black-friday"])  # fmt: skip
    drive(campaign)
    assert "+447400100099" not in {s.to for s in sandbox.OUTBOX}


def run_campaign_start_only(campaign: Campaign) -> None:
    from sms.campaigns.services.campaigns import _start

    _start(campaign)


def test_a_second_click_on_send_returns_the_same_campaign(audience):
    first = start_campaign(actor=SYSTEM, text="Hi", audience_kind="tag",
                           audience_id=audience["tag"].pk, idempotency_key="form-123")  # fmt: skip
    second = start_campaign(actor=SYSTEM, text="Hi", audience_kind="tag",
                            audience_id=audience["tag"].pk, idempotency_key="form-123")  # fmt: skip

    assert second.replayed and second.campaign.pk == first.campaign.pk
    drive(first.campaign)
    assert len(sandbox.OUTBOX) == 4


def test_a_batch_run_twice_creates_its_messages_once(audience):
    campaign = start(audience)
    run_campaign_start_only(campaign)
    batch = Batch.objects.filter(campaign=campaign).first()
    Batch.objects.filter(pk=batch.pk).update(status="claimed", claimed_at=timezone.now())

    assert create_batch(batch_id=batch.pk) == 2
    assert create_batch(batch_id=batch.pk) == 0  # a second worker with the same batch

    assert Message.objects.filter(campaign_id=campaign.pk).count() == 2
    assert ledger_matches_balance()


def test_a_batch_whose_worker_died_is_taken_over_after_its_lease(audience):
    campaign = start(audience)
    run_campaign_start_only(campaign)
    # A worker claimed both batches and was killed before committing anything.
    Batch.objects.filter(campaign=campaign).update(
        status="claimed", claimed_at=timezone.now() - dt.timedelta(minutes=5)
    )

    campaign = drive(campaign)

    assert campaign.status == "completed"
    assert len(sandbox.OUTBOX) == 4


def test_pause_holds_unsent_messages_and_resume_sends_them(audience):
    campaign = start(audience)
    run_campaign(campaign_id=campaign.pk)  # starts and creates every message, sends nothing
    pause_campaign(actor=SYSTEM, campaign=campaign)

    send_due_messages()
    run_campaign(campaign_id=campaign.pk)
    assert len(sandbox.OUTBOX) == 0
    assert set(
        Message.objects.filter(campaign_id=campaign.pk).values_list("status", flat=True)
    ) == {"held"}

    resume_campaign(actor=SYSTEM, campaign=campaign)
    campaign = drive(campaign)
    assert campaign.status == "completed"
    assert len(sandbox.OUTBOX) == 4


def test_someone_erased_while_their_text_waits_in_a_paused_campaign_is_never_texted(audience):
    from contacts.services.erasure import erase_contact

    campaign = start(audience)
    run_campaign(campaign_id=campaign.pk)  # every message created, none sent
    pause_campaign(actor=SYSTEM, campaign=campaign)
    erase_contact(actor=SYSTEM, contact=audience["alice"].pk)

    resume_campaign(actor=SYSTEM, campaign=campaign)
    campaign = drive(campaign)
    assert campaign.status == "completed"
    # Her blanked message was cancelled, not sent to an empty number and charged.
    assert sorted(s.to for s in sandbox.OUTBOX) == ["+12025550123", "+33612345678", "+447400100002"]
    sent = sum(m.price for m in Message.objects.filter(campaign_id=campaign.pk, status="sent"))
    assert credits.get_balance() == Decimal("100") - sent
    assert ledger_matches_balance()


def test_only_a_running_campaign_can_be_paused(audience):
    campaign = start(audience)
    with pytest.raises(SwitchboardError) as exc:
        pause_campaign(actor=SYSTEM, campaign=campaign)
    assert exc.value.code == "not_running"


def test_a_campaign_whose_credits_went_before_it_started_says_so_instead_of_waiting(audience):
    # Sent now with enough credits, but other sends took them before the heartbeat started
    # it: the start crashed on every heartbeat and the campaign sat "scheduled" for ever.
    from sms.models import CreditAccount

    campaign = start(audience)
    CreditAccount.objects.update(balance=Decimal("0.01"))

    run_campaign(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
    assert campaign.excluded["problem"] == (
        "Not enough credits to start: it needs 0.165, the balance is 0.01."
    )
    assert not Message.objects.exists()
    assert credits.get_balance() == Decimal("0.01")


def test_cancelling_a_scheduled_campaign_sends_nothing_and_costs_nothing(audience):
    campaign = start(audience, schedule_mode="at", time_zone="Europe/London",
                     send_at=(timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))  # fmt: skip

    cancel_campaign(actor=SYSTEM, campaign=campaign)
    drive(campaign)

    assert len(sandbox.OUTBOX) == 0
    assert credits.get_balance() == Decimal("100")
    assert ledger_matches_balance()


def test_cancelling_a_running_campaign_refunds_every_unsent_message(audience):
    campaign = start(audience)
    run_campaign_start_only(campaign)
    create_batch_for(campaign, number=0)  # two messages created, two recipients not yet
    send_due_messages(limit=1)

    cancel_campaign(actor=SYSTEM, campaign=campaign)
    drive(campaign)

    assert len(sandbox.OUTBOX) == 1
    sent = Message.objects.get(campaign_id=campaign.pk, status="sent")
    assert credits.get_balance() == Decimal("100") - sent.price
    assert ledger_matches_balance()
    assert Message.objects.filter(campaign_id=campaign.pk, status="cancelled").count() == 1


def create_batch_for(campaign: Campaign, *, number: int) -> None:
    batch = Batch.objects.get(campaign=campaign, number=number)
    Batch.objects.filter(pk=batch.pk).update(status="claimed", claimed_at=timezone.now())
    create_batch(batch_id=batch.pk)


def test_a_scheduled_campaign_can_be_edited_until_it_starts(audience):
    later = (timezone.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    campaign = start(audience, schedule_mode="at", time_zone="UTC", send_at=later)

    update_campaign(actor=SYSTEM, campaign=campaign, text="New text")
    campaign.refresh_from_db()
    assert campaign.text == "New text"

    campaign.start_at = timezone.now()
    campaign.save(update_fields=["start_at"])
    run_campaign(campaign_id=campaign.pk)
    with pytest.raises(SwitchboardError) as exc:
        update_campaign(actor=SYSTEM, campaign=campaign, text="Too late")
    assert exc.value.code == "not_editable"


def test_failed_messages_are_refunded_and_can_be_sent_again(audience):
    # The sandbox rejects numbers ending in 000: half of this audience.
    for i, phone in enumerate(["+447400123000", "+447400124000", "+447400125000", "+447400126000"]):
        create_contact(actor=SYSTEM, email=f"reject{i}@example.com", phone=phone,
                       sms_consent="granted", tags=["black-friday"])  # fmt: skip
    campaign = drive(start(audience))

    assert campaign.status == "completed"
    assert Message.objects.filter(campaign_id=campaign.pk, status="failed").count() == 4
    assert Message.objects.filter(campaign_id=campaign.pk, status="sent").count() == 4
    charged = sum(
        Message.objects.filter(campaign_id=campaign.pk, status="sent").values_list(
            "price", flat=True
        )
    )
    assert credits.get_balance() == Decimal("100") - charged
    assert ledger_matches_balance()

    again = resend_failed(actor=SYSTEM, campaign=campaign).campaign
    drive(again)
    again.refresh_from_db()
    assert again.recipients == 4
    assert sorted(Message.objects.filter(campaign_id=again.pk).values_list("to", flat=True)) == [
        "+447400123000", "+447400124000", "+447400125000", "+447400126000",
    ]  # fmt: skip
    assert ledger_matches_balance()


def test_quiet_hours_hold_marketing_until_morning(audience, settings):
    now = timezone.now()
    # Quiet from an hour ago to an hour from now in London: everyone British waits.
    start_t = (now - dt.timedelta(hours=1)).astimezone(dt.UTC)
    import zoneinfo

    london = zoneinfo.ZoneInfo("Europe/London")
    window = f"{(now - dt.timedelta(hours=1)).astimezone(london):%H:%M}-{(now + dt.timedelta(hours=1)).astimezone(london):%H:%M}"
    del start_t
    campaign = drive(start(audience, quiet_hours=window), rounds=3)

    gb = Message.objects.filter(campaign_id=campaign.pk, country="GB")
    assert set(gb.values_list("status", flat=True)) == {"scheduled"}
    assert all(m.send_after > now for m in gb)
    assert campaign.status == "running"
    assert "+447400100001" not in {s.to for s in sandbox.OUTBOX}


def test_each_message_gets_its_charge_timeline_and_history_like_a_single_send(audience):
    from contacts.models import Interaction
    from sms.models import CreditEntry, MessageEvent

    campaign = start(audience)
    run_campaign(campaign_id=campaign.pk)

    message = Message.objects.get(campaign_id=campaign.pk, to="+447400100001")
    assert message.status == "pending" and message.gateway == "sandbox"
    assert message.idempotency_key.startswith(f"campaign-{campaign.pk}-")
    assert message.text == "Hi Alice, 20% off today"
    assert message.actor_label == "tests"
    charge = CreditEntry.objects.get(message=message)
    assert (charge.kind, charge.amount) == ("charge", -message.price)
    assert MessageEvent.objects.get(message=message).source == "queued"
    history = Interaction.objects.get(contact=audience["alice"], kind="sms_sent")
    assert history.data == {"message_id": message.pk, "segments": 1, "kind": "marketing"}
    assert history.description == "SMS: Hi Alice, 20% off today"
    assert ledger_matches_balance()


def test_a_campaign_sent_now_screens_its_audience_once(audience, monkeypatch):
    from sms.campaigns.services import campaigns as service

    calls = []
    real = service.screen
    monkeypatch.setattr(service, "screen", lambda **kw: calls.append(kw) or real(**kw))

    campaign = drive(start(audience))

    assert campaign.status == "completed" and len(sandbox.OUTBOX) == 4
    assert len(calls) == 1  # when it was sent, not again when the heartbeat started it


def test_a_scheduled_campaign_is_screened_again_when_it_starts(audience, monkeypatch):
    from sms.campaigns.services import campaigns as service

    later = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    campaign = start(audience, schedule_mode="at", time_zone="UTC", send_at=later)
    assert not Recipient.objects.filter(campaign=campaign).exists()  # nothing frozen yet
    # Bob unsubscribes before the day comes.
    from contacts.models import Contact

    Contact.objects.filter(pk=audience["bob"].pk).update(unsubscribed_at=timezone.now())
    Campaign.objects.filter(pk=campaign.pk).update(start_at=timezone.now())
    calls = []
    real = service.screen
    monkeypatch.setattr(service, "screen", lambda **kw: calls.append(kw) or real(**kw))

    campaign = drive(campaign)

    assert len(calls) == 1
    assert "+447400100002" not in {s.to for s in sandbox.OUTBOX}
    assert campaign.recipients == 3 and campaign.excluded["unsubscribed"] == 2


def test_someone_who_says_stop_after_a_campaign_is_sent_is_not_texted(audience):
    from sms.services import optouts

    campaign = start(audience)  # frozen now; the heartbeat has not run yet
    optouts.add_opt_out(actor=SYSTEM, phone="+447400100001", reason="STOP")

    campaign = drive(campaign)

    assert campaign.status == "completed"
    assert "+447400100001" not in {s.to for s in sandbox.OUTBOX} and len(sandbox.OUTBOX) == 3
    alice = Message.objects.get(campaign_id=campaign.pk, to="+447400100001")
    assert (alice.status, alice.error_code) == ("cancelled", "opted_out")
    sent = sum(m.price for m in Message.objects.filter(campaign_id=campaign.pk, status="sent"))
    assert credits.get_balance() == Decimal("100") - sent  # her message was refunded
    assert ledger_matches_balance()


def test_editing_a_campaign_sent_now_before_it_starts_freezes_the_new_audience(audience):
    campaign = start(audience)
    solo = create_contact(actor=SYSTEM, email="solo@example.com", phone="+447400100077",
                          sms_consent="granted", tags=["solo"])  # fmt: skip
    from contacts.models import Tag

    update_campaign(actor=SYSTEM, campaign=campaign, audience_kind="tag",
                    audience_id=Tag.objects.get(name="solo").pk, text="Just you")  # fmt: skip

    assert list(Recipient.objects.filter(campaign=campaign).values_list("phone", flat=True)) == [
        solo.phone
    ]
    campaign = drive(campaign)
    assert [(s.to, s.text) for s in sandbox.OUTBOX] == [("+447400100077", "Just you")]
    assert campaign.batches_done == campaign.batches_total == 1
    assert ledger_matches_balance()


def test_a_campaign_sent_now_that_starts_late_is_screened_again(audience):
    from contacts.models import Contact

    campaign = start(audience)
    # No worker was free for five minutes; meanwhile Bob unsubscribed.
    Campaign.objects.filter(pk=campaign.pk).update(
        updated_at=timezone.now() - dt.timedelta(minutes=5)
    )
    Contact.objects.filter(pk=audience["bob"].pk).update(unsubscribed_at=timezone.now())

    campaign = drive(campaign)

    assert campaign.status == "completed"
    assert "+447400100002" not in {s.to for s in sandbox.OUTBOX} and len(sandbox.OUTBOX) == 3
    assert Recipient.objects.filter(campaign=campaign).count() == campaign.recipients == 3
    assert ledger_matches_balance()


def test_someone_erased_after_a_campaign_is_sent_leaves_its_audience(audience):
    from contacts.services.erasure import erase_contact

    campaign = start(audience)  # frozen: her number and personalised text are in the audience
    alice = audience["alice"]
    erase_contact(actor=SYSTEM, contact=alice.pk)

    assert not Recipient.objects.filter(phone="+447400100001").exists()
    assert not Recipient.objects.filter(text__contains="Alice").exists()
    campaign = drive(campaign)
    assert campaign.status == "completed" and campaign.reserved == 0
    assert "+447400100001" not in {s.to for s in sandbox.OUTBOX} and len(sandbox.OUTBOX) == 3
    sent = sum(m.price for m in Message.objects.filter(campaign_id=campaign.pk, status="sent"))
    assert credits.get_balance() == Decimal("100") - sent  # her share came back
    assert ledger_matches_balance()


def test_a_campaign_that_lost_someone_to_erasure_still_finishes_at_100_percent(audience):
    # Her frozen row went, so no message was made for her: the campaign counted her among its
    # recipients all the same and finished at 75%, one recipient unaccounted for.
    from contacts.services.erasure import erase_contact
    from sms.campaigns.services.progress import campaign_progress

    campaign = start(audience)
    erase_contact(actor=SYSTEM, contact=audience["alice"].pk)

    campaign = drive(campaign)

    assert campaign.status == "completed"
    assert campaign.recipients == 3
    assert campaign_progress(campaign)["percent"] == 100
