"""The SMS pages through the test client, as staff and admins use them."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from sms.models import CreditEntry, Message, OptOut, Price, Status
from sms.services import credits
from sms.services.messages import send_due_messages, send_sms

from .conftest import LANDLINE, MOBILE

pytestmark = pytest.mark.django_db


def test_staff_send_an_sms_to_a_contact_and_land_on_its_page(staff_client, funded, contact):
    response = staff_client.post("/sms/send/", {
        "contact": contact.pk, "text": "Hi {first_name}", "kind": "transactional",
        "idempotency_key": "form-1",
    })  # fmt: skip
    message = Message.objects.get()
    assert response.status_code == 302 and response.url == f"/sms/messages/{message.pk}/"
    assert (message.text, message.contact, message.actor_label) == ("Hi Alice", contact, "sam")


def test_a_schedule_in_the_past_is_told_in_the_time_zone_it_was_typed_in(
    staff_client, funded, contact, settings
):
    settings.TIME_ZONE = "America/New_York"
    response = staff_client.post("/sms/send/", {
        "contact": contact.pk, "text": "Hi", "kind": "transactional",
        "schedule_at": "2020-01-01T09:00",
    })  # fmt: skip
    assert response.context["form"].errors["schedule_at"] == [
        "01 Jan 2020 09:00 EST has already passed; choose a later time."
    ]  # not "14:00 UTC", a time the staff member never typed


def test_a_mangled_contact_field_is_refused_not_a_crash(staff_client, funded):
    response = staff_client.post("/sms/send/", {"contact": "not-a-uuid", "text": "Hi"})
    assert response.status_code == 200
    assert not Message.objects.exists()


def test_a_double_submitted_form_sends_once(staff_client, funded, contact):
    data = {
        "contact": contact.pk,
        "text": "Hi",
        "kind": "transactional",
        "idempotency_key": "form-2",
    }
    staff_client.post("/sms/send/", data)
    staff_client.post("/sms/send/", data)
    assert Message.objects.count() == 1


@pytest.mark.parametrize("key", ["k" * 150, "form\x003"])
def test_a_tampered_form_key_still_sends_once_rather_than_failing(
    staff_client, funded, contact, key
):
    # Longer than the column, or holding a NUL: PostgreSQL refused to store it (a 500).
    data = {"contact": contact.pk, "text": "Hi", "kind": "transactional", "idempotency_key": key}
    assert staff_client.post("/sms/send/", data).status_code == 302
    assert staff_client.post("/sms/send/", data).status_code == 302
    assert Message.objects.count() == 1


def test_staff_schedule_a_text_for_later_in_the_site_time_zone(
    staff_client, funded, contact, settings
):
    when = timezone.localtime() + dt.timedelta(days=1)
    response = staff_client.post("/sms/send/", {
        "contact": contact.pk, "text": "Tomorrow", "kind": "transactional",
        "schedule_at": f"{when:%Y-%m-%dT%H:%M}",
    })  # fmt: skip
    message = Message.objects.get()
    assert response.status_code == 302
    assert message.status == Status.SCHEDULED
    assert message.send_after == when.replace(second=0, microsecond=0)
    page = staff_client.get(response.url)
    assert "Scheduled for" in page.content.decode()


def _last_sunday(year: int, month: int) -> dt.date:
    last = dt.date(year, month, 31)
    return last - dt.timedelta(days=(last.weekday() + 1) % 7)


@pytest.mark.parametrize(
    ("month", "utc_hour", "utc_minute"),
    [(3, 1, 30),  # 01:30 is skipped (clocks go forward): it goes just after, 02:30 BST
     (10, 0, 30)],  # 01:30 happens twice (clocks go back): it goes at the first, 01:30 BST
)  # fmt: skip
def test_a_time_the_clocks_skip_or_repeat_is_scheduled_not_refused(
    staff_client, funded, contact, settings, month, utc_hour, utc_minute
):
    # Refused before with "couldn't be interpreted in time zone Europe/London; it may be
    # ambiguous or it may not exist", which told staff neither which nor what to type instead.
    settings.TIME_ZONE = "Europe/London"
    settings.SMS_MAX_SCHEDULE_DAYS = 730  # next year's change of the clocks is months away
    day = _last_sunday(timezone.now().year + 1, month)
    response = staff_client.post("/sms/send/", {
        "contact": contact.pk, "text": "Hi", "kind": "transactional",
        "schedule_at": f"{day:%Y-%m-%d}T01:30",
    })  # fmt: skip
    assert response.status_code == 302, response.context["form"].errors
    message = Message.objects.get()
    assert message.send_after == dt.datetime.combine(
        day, dt.time(utc_hour, utc_minute), tzinfo=dt.UTC
    )
    page = staff_client.get(response.url).text
    assert f"Scheduled for {timezone.localtime(message.send_after):%d %b %Y %H:%M} BST" in page


def test_the_send_page_names_the_time_zone_a_scheduled_time_is_read_in(
    staff_client, funded, contact, settings
):
    settings.TIME_ZONE = "Europe/Paris"
    assert "the time is in Europe/Paris" in staff_client.get("/sms/send/").content.decode()
    response = staff_client.post("/sms/send/", {
        "contact": contact.pk, "text": "Later", "kind": "transactional",
        "schedule_at": f"{timezone.localtime() + dt.timedelta(days=1):%Y-%m-%dT%H:%M}",
    })  # fmt: skip
    goes_out = re.search(r'data-testid="send-after">([^<]+)<', staff_client.get(response.url).text)
    assert goes_out and goes_out.group(1).endswith(("CET", "CEST"))


def test_a_schedule_in_the_past_is_shown_next_to_the_field(staff_client, funded, contact):
    response = staff_client.post("/sms/send/", {
        "contact": contact.pk, "text": "Hi", "kind": "transactional",
        "schedule_at": "2020-01-01T09:00",
    })  # fmt: skip
    assert response.status_code == 200
    assert response.context["form"].errors["schedule_at"] == [
        "01 Jan 2020 09:00 UTC has already passed; choose a later time."
    ]
    assert not Message.objects.exists()


def test_the_recipient_can_be_a_contacts_email(staff_client, funded, contact):
    staff_client.post(
        "/sms/send/", {"to": "ALICE@example.com", "text": "Hi", "kind": "transactional"}
    )
    assert Message.objects.get().contact == contact


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"to": LANDLINE, "text": "Hi"}, "fixed line number"),
        ({"to": "nobody@example.com", "text": "Hi"}, "No contact has the email"),
        ({"to": "+44 12", "text": "Hi"}, "not a valid phone number"),
        ({"to": MOBILE, "text": ""}, "Write the message first"),
    ],
)
def test_a_refused_send_shows_why_and_keeps_what_was_typed(staff_client, funded, data, error):
    response = staff_client.post("/sms/send/", {"kind": "transactional", **data})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert data["to"] in response.content.decode()
    assert not Message.objects.exists()
    assert credits.get_balance() == Decimal("10")


def test_the_preview_shows_encoding_segments_price_and_what_forces_ucs2(
    htmx_client, funded, contact
):
    response = htmx_client.post("/sms/send/preview/", {
        "contact": contact.pk, "text": "Bonjour {first_name} 😀", "kind": "transactional"
    })  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Bonjour Alice 😀" in html
    assert "UCS-2 because of" in html and "“😀”" in html
    assert "0.0400 credits" in html
    assert "9.9600" in html  # balance after


def test_the_preview_names_an_invisible_character_that_forces_ucs2(htmx_client, funded):
    # Pasted from a document: a no-break space looks like a space but costs UCS-2.
    html = htmx_client.post(
        "/sms/send/preview/", {"to": MOBILE, "text": "Hi\u00a0there", "kind": "transactional"}
    ).content.decode()
    assert "UCS-2 because of: U+00A0 no-break space" in html


def test_the_preview_names_a_combining_accent_that_forces_ucs2(htmx_client, funded):
    # "Café" typed on a Mac or pasted from a PDF is often e + a combining accent, which is no
    # GSM-7 character; shown as is, the accent lands on the quote mark and nobody can see it.
    html = htmx_client.post(
        "/sms/send/preview/", {"to": MOBILE, "text": "Cafe\u0301 open", "kind": "transactional"}
    ).content.decode()
    assert "UCS-2 because of: U+0301 combining acute accent" in html


def test_the_preview_says_when_the_balance_cannot_pay_for_the_text(htmx_client, priced):
    html = htmx_client.post(
        "/sms/send/preview/", {"to": MOBILE, "text": "Hi", "kind": "transactional"}
    ).content.decode()
    assert 'data-testid="price">0.0400 credits' in html  # the estimate is still shown
    assert "Not enough credits: this needs 0.04, the balance is 0." in html


def test_a_line_break_typed_in_the_form_costs_one_character(staff_client, htmx_client, funded):
    # Browsers post a textarea's line breaks as CR LF; the phone needs only the LF.
    data = {"to": MOBILE, "text": "a" * 79 + "\r\n" + "b" * 80, "kind": "transactional"}
    html = htmx_client.post("/sms/send/preview/", data).content.decode()
    assert 'data-testid="segments">1<' in html
    staff_client.post("/sms/send/", data)
    message = Message.objects.get()
    assert (message.text, message.segments) == ("a" * 79 + "\n" + "b" * 80, 1)


def test_the_preview_of_a_typed_number_uses_the_contact_who_has_it(htmx_client, funded, contact):
    # The send texts Alice (her number), so the preview must fill in her name, not refuse
    # the placeholder as if nobody had the number.
    response = htmx_client.post(
        "/sms/send/preview/",
        {"to": "07400 123456", "text": "Hi {first_name}", "kind": "transactional"},
    )
    text = response.content.decode()
    assert 'data-testid="preview-text">Hi Alice<' in text
    assert 'data-testid="problem"' not in text


def test_the_preview_warns_about_a_landline(htmx_client, funded):
    html = htmx_client.post(
        "/sms/send/preview/", {"to": LANDLINE, "text": "Hi", "kind": "transactional"}
    ).content.decode()
    assert "fixed line number" in html
    assert "Tick “Send even if the number is not a mobile” to send it anyway." in html


def test_a_send_to_a_landline_points_at_the_box_that_sends_it_anyway(staff_client, funded):
    response = staff_client.post(
        "/sms/send/", {"to": LANDLINE, "text": "Hi", "kind": "transactional"}
    )
    assert response.context["form"].errors["allow_non_mobile"] == ["Tick this to send it anyway."]
    assert not Message.objects.exists()

    sent = staff_client.post("/sms/send/", {
        "to": LANDLINE, "text": "Hi", "kind": "transactional", "allow_non_mobile": "on",
    })  # fmt: skip
    assert sent.status_code == 302 and Message.objects.count() == 1


def test_the_contact_page_links_to_send_an_sms(staff_client, contact):
    html = staff_client.get(f"/contacts/{contact.pk}/").content.decode()
    assert f"/sms/send/?contact={contact.pk}" in html
    assert (
        contact.first_name in staff_client.get(f"/sms/send/?contact={contact.pk}").content.decode()
    )


def test_the_history_lists_every_message_in_a_fixed_number_of_queries(
    staff_client, funded, contact, staff_actor, django_assert_max_num_queries
):
    for i in range(30):
        send_sms(
            actor=staff_actor,
            contact=contact if i % 2 else None,
            to=None if i % 2 else "+33612345678",
            text=f"m{i}",
        )
    with django_assert_max_num_queries(8):
        response = staff_client.get("/sms/")
    assert response.status_code == 200
    assert response.content.decode().count("/sms/messages/") == 30


def test_the_history_filters_by_status_sender_contact_and_country(
    staff_client, funded, contact, staff_actor
):
    from dashboard.actors import Actor

    send_sms(actor=staff_actor, contact=contact, text="to alice")
    send_sms(actor=Actor.agent(1, "bot"), to="+33612345678", text="to france")
    send_due_messages()
    send_sms(actor=staff_actor, to="+33612345678", text="still pending")

    def texts(query: str) -> list[str]:
        html = staff_client.get(f"/sms/?{query}").content.decode()
        return [t for t in ("to alice", "to france", "still pending") if t in html]

    assert texts("sender=agent") == ["to france"]
    assert texts("status=pending") == ["still pending"]
    assert texts("contact=alice@") == ["to alice"]
    assert texts("contact=07400") == ["to alice"]
    assert texts("country=fr") == ["to france", "still pending"]
    assert texts("date_from=2000-01-01&date_to=2000-01-02") == []
    assert texts("date_from=nonsense") == ["to alice", "to france", "still pending"]


def test_the_message_page_polls_until_the_message_is_final(
    htmx_client, staff_client, funded, staff_actor
):
    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi").message
    page = staff_client.get(f"/sms/messages/{message.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert (
        htmx_client.get(f"/sms/messages/{message.pk}/", headers={"HX-Target": "status"}).status_code
        == 200
    )
    Message.objects.filter(pk=message.pk).update(status=Status.DELIVERED)
    response = htmx_client.get(f"/sms/messages/{message.pk}/", headers={"HX-Target": "status"})
    assert response.status_code == 286  # htmx stops polling
    assert "Delivered" in response.content.decode()


def test_the_cancel_button_goes_with_the_poll_once_the_message_is_sent(
    htmx_client, staff_client, funded, staff_actor
):
    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi").message
    status = {"headers": {"HX-Target": "status"}}
    assert 'data-testid="cancel"' in htmx_client.get(f"/sms/messages/{message.pk}/", **status).text
    send_due_messages()
    assert "Cancel" not in htmx_client.get(f"/sms/messages/{message.pk}/", **status).text


def test_a_scheduled_text_says_when_it_goes_out_without_blaming_quiet_hours(
    staff_client, funded, staff_actor
):
    later = timezone.now() + dt.timedelta(days=1)
    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi", schedule_at=later).message
    page = staff_client.get(f"/sms/messages/{message.pk}/").content.decode()
    assert "Goes out" in page
    assert "quiet hours" not in page  # a transactional text the staff member scheduled


def test_staff_cancel_a_pending_message_and_get_the_credits_back(staff_client, funded, staff_actor):
    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi").message
    staff_client.post(f"/sms/messages/{message.pk}/cancel/")
    message.refresh_from_db()
    assert message.status == Status.CANCELLED
    assert credits.get_balance() == Decimal("10")


def test_a_second_cancel_says_the_message_was_already_cancelled(
    staff_client, admin_client, funded, staff_actor
):
    # Two staff press Cancel on the same scheduled text: the second must not be told that it
    # went to the provider (it never will).
    later = timezone.now() + dt.timedelta(days=1)
    message = send_sms(actor=staff_actor, to=MOBILE, text="Hi", schedule_at=later).message
    staff_client.post(f"/sms/messages/{message.pk}/cancel/")
    page = admin_client.post(f"/sms/messages/{message.pk}/cancel/", follow=True).content.decode()
    assert "already cancelled" in page
    assert "with the provider" not in page
    assert credits.get_balance() == Decimal("10")


def test_the_lookup_page_describes_a_number(staff_client):
    html = staff_client.get("/sms/lookup/", {"number": "020 7946 0000"}).content.decode()
    assert "+442079460000" in html and "fixed line" in html and "Europe/London" in html
    assert "not a mobile" in html


def test_the_lookup_result_is_announced_and_offers_no_text_to_an_opted_out_number(
    staff_client, staff_actor
):
    from sms.services.optouts import add_opt_out

    html = staff_client.get("/sms/lookup/", {"number": MOBILE}).content.decode()
    assert 'id="result" aria-live="polite"' in html and "Text this number" in html
    add_opt_out(actor=staff_actor, phone=MOBILE, reason="replied STOP")
    html = staff_client.get("/sms/lookup/", {"number": MOBILE}).content.decode()
    assert "opted out" in html and "Text this number" not in html


def test_the_lookup_page_explains_an_invalid_number(staff_client):
    html = staff_client.get("/sms/lookup/", {"number": "12"}).content.decode()
    assert "not a phone number" in html or "not a valid phone number" in html


def test_staff_add_and_remove_an_opt_out_with_a_reason(staff_client):
    staff_client.post("/sms/opt-outs/", {"phone": "07400 123456", "reason": "asked by phone"})
    row = OptOut.objects.get()
    assert (row.phone, row.reason, row.actor_label) == (MOBILE, "asked by phone", "sam")
    staff_client.post(f"/sms/opt-outs/{row.pk}/remove/", {"reason": ""})
    assert OptOut.objects.exists()  # a reason is required
    staff_client.post(f"/sms/opt-outs/{row.pk}/remove/", {"reason": "opted in on the web form"})
    assert not OptOut.objects.exists()


def test_removing_a_number_a_colleague_already_took_off_says_so_instead_of_not_found(
    staff_client, admin_client
):
    staff_client.post("/sms/opt-outs/", {"phone": MOBILE, "reason": "asked by phone"})
    row = OptOut.objects.get()
    admin_client.post(f"/sms/opt-outs/{row.pk}/remove/", {"reason": "opted in on the web"})

    response = staff_client.post(
        f"/sms/opt-outs/{row.pk}/remove/", {"reason": "opted in"}, follow=True
    )

    assert response.status_code == 200
    assert "already taken off the STOP list by" in response.content.decode()
    assert not OptOut.objects.exists()


def test_staff_find_a_number_on_the_stop_list_however_they_type_it(staff_client, staff_actor):
    from sms.services.optouts import add_opt_out

    add_opt_out(actor=staff_actor, phone=MOBILE, reason="replied STOP")
    for n in range(60):  # more than a page of other numbers, newer than the one asked about
        add_opt_out(actor=staff_actor, phone=f"+4474009{n:05d}", reason="complaint")
    for typed in ("07400 123456", "+44 7400 123456", "447400123456"):
        html = staff_client.get("/sms/opt-outs/", {"q": typed}).content.decode()
        assert MOBILE in html and "replied STOP" in html and ">1 number<" in html, typed
    html = staff_client.get("/sms/opt-outs/", {"q": "07400 999999"}).content.decode()
    assert "No number on the STOP list matches" in html


def test_a_stop_list_search_holding_a_nul_finds_nothing_rather_than_failing(
    staff_client, staff_actor
):
    # A pasted or hand-typed ?q=%00: PostgreSQL refuses even to compare a NUL (a 500).
    from sms.services.optouts import add_opt_out

    add_opt_out(actor=staff_actor, phone=MOBILE, reason="replied STOP")
    response = staff_client.get("/sms/opt-outs/", {"q": "STOP\x00"})
    assert response.status_code == 200
    assert "No number on the STOP list matches" in response.content.decode()


def test_an_invalid_opt_out_number_is_explained(staff_client):
    response = staff_client.post("/sms/opt-outs/", {"phone": "hello", "reason": "x"})
    assert "not a phone number" in response.content.decode()
    assert not OptOut.objects.exists()


def test_admins_top_up_credits(admin_client, priced):
    admin_client.post("/sms/credits/top-up/", {"amount": "50", "note": "PO 77"})
    assert credits.get_balance() == Decimal("50")
    assert "PO 77" in admin_client.get("/sms/credits/").content.decode()


def test_a_double_clicked_top_up_adds_once(admin_client, priced):
    page = admin_client.get("/sms/credits/").content.decode()
    key = re.search(r'name="idempotency_key" value="(\w+)"', page).group(1)
    for _ in range(2):
        response = admin_client.post(
            "/sms/credits/top-up/", {"amount": "50", "idempotency_key": key}
        )
        assert response.status_code == 302
    assert credits.get_balance() == Decimal("50")
    assert CreditEntry.objects.filter(kind="topup").count() == 1
    assert credits.ledger_total() == credits.get_balance()
    again = admin_client.get("/sms/credits/").content.decode()
    assert key not in again  # the next top-up is a new one


def test_staff_cannot_top_up_or_change_prices(staff_client, priced):
    assert staff_client.post("/sms/credits/top-up/", {"amount": "50"}).status_code == 403
    assert (
        staff_client.post("/sms/credits/prices/", {"country": "GB", "per_segment": "9"}).status_code
        == 403
    )
    assert credits.get_balance() == 0
    assert Price.objects.get(country="GB").per_segment == Decimal("0.04")
    assert not CreditEntry.objects.exists()


def test_admins_set_a_price(admin_client, priced):
    admin_client.post("/sms/credits/prices/", {"country": "br", "per_segment": "0.09"})
    assert Price.objects.get(country="BR").per_segment == Decimal("0.09")


def test_the_provider_balance_is_shown_beside_ours(staff_client, priced, settings):
    from django.core.cache import cache

    from sms.gateways.base import reset_http_client
    from sms.simulator import start_simulator

    cache.clear()
    server = start_simulator()
    settings.SMS_GATEWAY, settings.MAILPRO_API_URL = "mailpro", server.url
    reset_http_client()
    try:
        html = staff_client.get(
            "/sms/credits/provider/", headers={"HX-Request": "true"}
        ).content.decode()
    finally:
        server.shutdown()
        server.server_close()
        reset_http_client()
    assert "1000000" in html and "mailpro" in html


def test_an_unreachable_provider_balance_is_explained(staff_client, priced, settings):
    from django.core.cache import cache

    from sms.gateways.base import reset_http_client

    cache.clear()
    settings.SMS_GATEWAY, settings.MAILPRO_API_URL = "mailpro", "http://127.0.0.1:9"
    reset_http_client()
    html = staff_client.get("/sms/credits/provider/").content.decode()
    reset_http_client()
    assert "could not be reached" in html
