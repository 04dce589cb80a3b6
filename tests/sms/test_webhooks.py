"""Provider callbacks: signatures, delivery reports in any order, inbound STOP/START."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from contacts.models import Interaction
from contacts.services.contacts import create_contact
from sms.gateways.base import SIGNATURE_HEADER, sign
from sms.gateways.twilio import twilio_signature
from sms.models import DeliveryReport, InboundMessage, Message, OptOut, Status
from sms.services import credits
from sms.services.messages import send_due_messages, send_sms
from sms.services.optouts import keyword_action

from .conftest import MOBILE

pytestmark = pytest.mark.django_db


def post_signed(url: str, payload: dict, *, secret: str | None = None):
    body = json.dumps(payload).encode()
    return Client().post(url, body, content_type="application/json",
                         headers={SIGNATURE_HEADER: sign(body, secret)})  # fmt: skip


def status(provider_id: str, word: str, error: str = ""):
    return post_signed(
        "/sms/hooks/sandbox/status/", {"id": provider_id, "status": word, "error_code": error}
    )


@pytest.fixture
def sent(funded, staff_actor) -> Message:
    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi").message
    send_due_messages()
    message.refresh_from_db()
    assert message.status == Status.SENT
    return message


def test_a_delivery_report_marks_the_message_delivered(sent):
    assert status(sent.provider_id, "delivered").status_code == 200
    sent.refresh_from_db()
    assert sent.status == Status.DELIVERED
    assert list(sent.events.values_list("status", flat=True)) == ["pending", "sent", "delivered"]


def test_a_duplicate_report_changes_nothing(sent):
    status(sent.provider_id, "delivered")
    assert status(sent.provider_id, "delivered").status_code == 200
    assert sent.events.filter(status="delivered").count() == 1
    assert DeliveryReport.objects.filter(provider_id=sent.provider_id).count() == 2


def test_a_late_sent_report_does_not_undo_delivered(sent):
    status(sent.provider_id, "delivered")
    status(sent.provider_id, "sent")
    status(sent.provider_id, "queued")
    sent.refresh_from_db()
    assert sent.status == Status.DELIVERED


def test_a_final_state_is_not_replaced_by_another(sent):
    status(sent.provider_id, "undelivered", "30005")
    status(sent.provider_id, "delivered")
    sent.refresh_from_db()
    assert (sent.status, sent.error_code) == (Status.UNDELIVERED, "30005")


def test_a_failure_report_refunds_the_message_once(sent):
    status(sent.provider_id, "failed", "30007")
    status(sent.provider_id, "failed", "30007")
    sent.refresh_from_db()
    assert (sent.status, sent.error_code) == (Status.FAILED, "30007")
    assert credits.get_balance() == Decimal("10")
    assert credits.ledger_total() == Decimal("10")


def test_an_unknown_status_is_noted_and_ignored(sent):
    assert status(sent.provider_id, "teleported").status_code == 200
    sent.refresh_from_db()
    assert sent.status == Status.SENT
    assert "teleported" in sent.events.last().detail


def test_a_report_that_arrives_before_the_worker_recorded_the_id_is_applied_later(
    funded, staff_actor, monkeypatch
):
    from sms.services import messages as service

    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi").message
    record = service._record_outcomes

    def report_first(batch, outcomes, stats):
        # The provider's callback lands after it accepted the message but before the worker
        # has written down the provider's id.
        assert status(outcomes[0].provider_id, "delivered").status_code == 200
        return record(batch, outcomes, stats)

    monkeypatch.setattr(service, "_record_outcomes", report_first)
    send_due_messages()
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert DeliveryReport.objects.get().message == message


def test_a_report_whose_id_the_worker_records_while_it_is_being_stored_is_applied(
    funded, staff_actor, monkeypatch
):
    from django.db.models.signals import pre_save

    from sms.services import messages as service

    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi").message
    record, held = service._record_outcomes, []
    monkeypatch.setattr(service, "_record_outcomes", lambda *args: held.append(args))
    send_due_messages()  # the provider accepted it; the worker has not written that down yet
    (batch, outcomes, stats) = held[0]

    def worker_records_now(sender, instance, **kwargs):
        # The callback has looked for the message and is storing its report: just then the
        # worker records the provider id and looks for early reports (none stored yet).
        if held:
            record(*held.pop())

    pre_save.connect(worker_records_now, sender=DeliveryReport)
    try:
        assert status(outcomes[0].provider_id, "delivered").status_code == 200
    finally:
        pre_save.disconnect(worker_records_now, sender=DeliveryReport)
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert DeliveryReport.objects.get().message == message


def test_a_report_for_an_unknown_id_is_kept_not_refused(db):
    assert status("nobody", "delivered").status_code == 200
    assert DeliveryReport.objects.get().message is None


# Longer than the 64-character column, and alike for their first 70 characters.
LONG_IDS = ["msg-" + "x" * 66 + "-first", "msg-" + "x" * 66 + "-second"]


@pytest.fixture
def long_ids(funded, staff_actor, monkeypatch) -> list[Message]:
    """Two texts the provider accepted under ids longer than the column, told apart only past
    the 64th character."""
    from sms.gateways import sandbox
    from sms.gateways.base import SendResult

    ids = iter(LONG_IDS)
    monkeypatch.setattr(sandbox.SandboxGateway, "send", lambda self, **kw: SendResult(next(ids)))
    messages = [send_sms(actor=staff_actor, to=MOBILE, text=f"Hi {n}").message for n in (1, 2)]
    send_due_messages()
    for message in messages:
        message.refresh_from_db()
    return messages


def test_a_provider_id_longer_than_the_column_is_recorded_and_matches_only_its_own_reports(
    long_ids,
):
    first, second = long_ids
    assert (first.status, second.status) == (Status.SENT, Status.SENT)
    assert first.provider_id != second.provider_id
    assert first.events.get(status="sent").detail.endswith(LONG_IDS[0])

    assert status(LONG_IDS[1], "delivered").status_code == 200

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Status.SENT, Status.DELIVERED)
    assert DeliveryReport.objects.get().message == second


def test_an_early_report_for_a_long_provider_id_is_applied_when_the_worker_records_it(
    funded, staff_actor, monkeypatch
):
    from sms.gateways import sandbox
    from sms.gateways.base import SendResult

    monkeypatch.setattr(sandbox.SandboxGateway, "send", lambda self, **kw: SendResult(LONG_IDS[0]))
    assert status(LONG_IDS[1], "failed").status_code == 200  # another text's report
    assert status(LONG_IDS[0], "delivered").status_code == 200  # before the worker records it
    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi").message

    send_due_messages()

    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert list(DeliveryReport.objects.order_by("id").values_list("message", flat=True)) == [
        None, message.pk,
    ]  # fmt: skip


def test_two_inbound_texts_whose_long_ids_differ_past_the_column_are_both_kept(contact):
    assert inbound(MOBILE, "Hello", LONG_IDS[0]).status_code == 200
    assert inbound(MOBILE, "STOP", LONG_IDS[1]).status_code == 200
    assert sorted(InboundMessage.objects.values_list("text", flat=True)) == ["Hello", "STOP"]
    assert OptOut.objects.filter(phone=MOBILE).exists()


@pytest.mark.parametrize("headers", [{}, {SIGNATURE_HEADER: "0" * 64}])
def test_an_unsigned_or_forged_callback_is_refused(sent, headers):
    body = json.dumps({"id": sent.provider_id, "status": "failed"}).encode()
    response = Client().post(
        "/sms/hooks/sandbox/status/", body, content_type="application/json", headers=headers
    )
    assert response.status_code == 403
    sent.refresh_from_db()
    assert sent.status == Status.SENT
    assert not DeliveryReport.objects.exists()


@pytest.mark.parametrize(
    ("gateway", "header"), [("sandbox", SIGNATURE_HEADER), ("mailpro", SIGNATURE_HEADER),
                            ("twilio", "X-Twilio-Signature")],
)  # fmt: skip
def test_a_signature_with_non_ascii_characters_is_refused_not_a_500(db, settings, gateway, header):
    # Headers arrive as latin-1: a scanner's "é" must get the 403 any forgery gets.
    settings.TWILIO_AUTH_TOKEN = "tok"
    for kind in ("status", "inbound"):
        response = Client().post(f"/sms/hooks/{gateway}/{kind}/", {"From": MOBILE, "Body": "STOP"},
                                 headers={header: "é" * 28})  # fmt: skip
        assert response.status_code == 403
    assert not OptOut.objects.exists()


def test_a_callback_signed_with_another_secret_is_refused(sent):
    assert post_signed("/sms/hooks/sandbox/status/", {"id": sent.provider_id, "status": "failed"},
                       secret="not-ours").status_code == 403  # fmt: skip


def test_a_malformed_callback_is_a_bad_request(db):
    body = b"{not json"
    response = Client().post("/sms/hooks/mailpro/status/", body, content_type="application/json",
                             headers={SIGNATURE_HEADER: sign(body)})  # fmt: skip
    assert response.status_code == 400


def test_an_unknown_gateway_is_not_found(db):
    assert post_signed("/sms/hooks/carrier-pigeon/status/", {}).status_code == 404


def test_mailpro_reports_use_its_field_names(funded, staff_actor, settings):
    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi").message
    Message.objects.filter(pk=message.pk).update(
        status="sent", gateway="mailpro", provider_id="555"
    )
    post_signed("/sms/hooks/mailpro/status/", {"IdSend": "555", "Status": "delivered"})
    message.refresh_from_db()
    assert message.status == Status.DELIVERED


def test_twilio_reports_need_twilios_signature(funded, staff_actor, settings):
    settings.TWILIO_AUTH_TOKEN = "tok"
    settings.SMS_PUBLIC_BASE_URL = "https://sb.example.com"
    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi").message
    Message.objects.filter(pk=message.pk).update(status="sent", gateway="twilio", provider_id="SM1")
    params = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    url = "https://sb.example.com/sms/hooks/twilio/status/"
    forged = Client().post("/sms/hooks/twilio/status/", params,
                           headers={"X-Twilio-Signature": twilio_signature("wrong", url, params)})  # fmt: skip
    assert forged.status_code == 403
    good = Client().post("/sms/hooks/twilio/status/", params,
                         headers={"X-Twilio-Signature": twilio_signature("tok", url, params)})  # fmt: skip
    assert good.status_code == 200 and good["Content-Type"] == "text/xml"
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.UNDELIVERED, "30003")


# --- Inbound -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", "  Stop  ", "STOPALL", "unsubscribe", "Cancel", "END", "quit", "REVOKE",
     "optout", "stop!", "\tSTOP\n", "opt-out", "Opt-Out", "OPT_OUT", "stop-all", "un-subscribe"],
)  # fmt: skip
def test_stop_keywords_opt_out(text):
    assert keyword_action(text) == "opt_out"


@pytest.mark.parametrize("text", ["START", " unstop ", "Start.", "un-stop", "Start. Start!"])
def test_start_keywords_opt_back_in(text):
    assert keyword_action(text) == "opt_in"


@pytest.mark.parametrize(
    "text",
    ["Please stop texting me about it", "stopped", "", "STOP IT", "starting", "Stop please",
     "stop-over", "re-start", "can't stop"],
)  # fmt: skip
def test_other_replies_are_not_keywords(text):
    assert keyword_action(text) == ""


def inbound(sender: str, text: str, provider_id: str = ""):
    return post_signed(
        "/sms/hooks/sandbox/inbound/", {"from": sender, "text": text, "id": provider_id}
    )


def test_a_stop_reply_suppresses_the_number_and_start_allows_it_again(funded, contact, staff_actor):
    assert inbound("+44 7400 123456", " Stop ", "in-1").status_code == 200
    assert OptOut.objects.filter(phone=MOBILE).exists()
    with pytest.raises(Exception, match="opted out"):
        send_sms(actor=staff_actor, contact=contact, text="Hi")
    inbound(MOBILE, "START", "in-2")
    assert not OptOut.objects.filter(phone=MOBILE).exists()
    send_sms(actor=staff_actor, contact=contact, text="Welcome back")


def test_replies_are_kept_in_the_contacts_history(contact):
    inbound(MOBILE, "Yes, Tuesday works", "in-3")
    reply = Interaction.objects.get(contact=contact, kind="sms_received")
    assert "Yes, Tuesday works" in reply.description
    assert not OptOut.objects.exists()


def test_the_same_inbound_message_twice_is_stored_once(contact):
    inbound(MOBILE, "Hello", "in-4")
    inbound(MOBILE, "Hello", "in-4")
    assert InboundMessage.objects.count() == 1
    assert Interaction.objects.filter(contact=contact, kind="sms_received").count() == 1


@pytest.mark.parametrize(
    "text",
    ["STOP?", "Stop,", '"STOP"', "«Stop»", "stop 🛑", "STOP :)", "Stop all", "opt out",
     "ＳＴＯＰ", "STOP\u200b", "Arrêt", "STOPP", "baja", "STOP STOP", "Stop. Stop!"],
)  # fmt: skip
def test_a_stop_reply_with_punctuation_emoji_or_in_another_language_opts_out(text, contact):
    assert inbound(MOBILE, text).status_code == 200
    assert OptOut.objects.filter(phone=MOBILE).exists()
    assert InboundMessage.objects.get().action == "opt_out"


@pytest.mark.parametrize(
    ("sender", "e164"), [("33612345678", "+33612345678"), ("447400123456", MOBILE)]
)
def test_a_stop_from_a_number_given_without_its_plus_opts_that_number_out(sender, e164, db):
    # Providers often give the sender in international format without the "+".
    assert inbound(sender, "STOP").status_code == 200
    assert OptOut.objects.filter(phone=e164).exists()
    assert InboundMessage.objects.get().sender == e164


def test_a_retried_inbound_message_with_a_very_long_id_is_stored_once(contact):
    long_id = "in-" + "7" * 80  # longer than the column: compared as stored
    assert inbound(MOBILE, "Hello", long_id).status_code == 200
    assert inbound(MOBILE, "Hello", long_id).status_code == 200
    assert InboundMessage.objects.count() == 1


def test_a_forged_inbound_stop_is_refused(db):
    body = json.dumps({"from": MOBILE, "text": "STOP"}).encode()
    response = Client().post("/sms/hooks/sandbox/inbound/", body, content_type="application/json")
    assert response.status_code == 403
    assert not OptOut.objects.exists()


def test_twilio_inbound_stop(settings, db):
    settings.TWILIO_AUTH_TOKEN = "tok"
    settings.SMS_PUBLIC_BASE_URL = "https://sb.example.com"
    params = {"From": MOBILE, "Body": "stop", "MessageSid": "SM9"}
    signature = twilio_signature("tok", "https://sb.example.com/sms/hooks/twilio/inbound/", params)
    response = Client().post(
        "/sms/hooks/twilio/inbound/", params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200
    assert OptOut.objects.filter(phone=MOBILE).exists()


def test_a_stop_reply_holding_a_nul_or_a_broken_surrogate_still_opts_out(contact):
    # GSM-7 codes "@" as 0x00 and some providers pass it on as a NUL; a body may also hold
    # half an emoji. Neither may cost the reply (a 500 makes the provider retry for ever).
    assert inbound(MOBILE, "STOP\x00", "in-nul").status_code == 200
    assert inbound(MOBILE, "Call me @ 5\x00pm \ud83d", "in-half").status_code == 200

    assert OptOut.objects.filter(phone=MOBILE).exists()
    texts = list(InboundMessage.objects.order_by("id").values_list("text", flat=True))
    assert texts == ["STOP\ufffd", "Call me @ 5\ufffdpm \ufffd"]
    assert Interaction.objects.filter(contact=contact, kind="sms_received").count() == 2


def test_a_report_holding_a_nul_or_a_broken_surrogate_is_kept_not_a_server_error(sent):
    assert status(sent.provider_id + "\x00", "delivered").status_code == 200
    assert status(sent.provider_id, "deli\ud800vered", "3\x0000").status_code == 200

    sent.refresh_from_db()
    assert sent.status == Status.SENT  # neither names the message and a status we know
    assert DeliveryReport.objects.filter(message__isnull=True).count() == 1
    assert "unknown provider status" in sent.events.last().detail


def test_a_signed_callback_nested_past_the_recursion_limit_is_refused_not_a_500(db):
    body = b"[" * 5000 + b"]" * 5000
    response = Client().post("/sms/hooks/sandbox/status/", body, content_type="application/json",
                             headers={SIGNATURE_HEADER: sign(body)})  # fmt: skip
    assert response.status_code == 400
    assert not DeliveryReport.objects.exists()


def test_a_stop_from_a_number_two_contacts_share_is_in_both_their_histories(contact, system_actor):
    partner = create_contact(actor=system_actor, email="bob@example.com", phone=MOBILE,
                             first_name="Bob", sms_consent="granted")  # fmt: skip
    assert inbound(MOBILE, "STOP", "in-shared").status_code == 200
    # Neither can be texted any more: each one's history says why.
    for person in (contact, partner):
        stop = Interaction.objects.get(contact=person, kind="sms_received")
        assert "opted out" in stop.description
