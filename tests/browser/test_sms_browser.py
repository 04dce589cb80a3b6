"""A staff member texts a demo contact through the sandbox and watches it get delivered."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from contacts import demo
from contacts.services.contacts import create_contact
from dashboard.actors import Actor
from sms.gateways.base import StatusReport
from sms.models import Message
from sms.services import credits
from sms.services.messages import record_status_report, send_due_messages


@pytest.fixture
def demo_contact(transactional_db):
    # The first demo person whose number is not one of the sandbox's failing test numbers.
    person = next(p for p in demo.people(10, seed=7) if p.phone[-3:] not in {"000", "111", "222"})
    credits.ensure_default_prices()
    credits.ensure_account()
    credits.top_up(actor=Actor.system("tests"), amount=100)
    return create_contact(
        actor=Actor.system("demo data"), email=person.email, phone=person.phone,
        first_name=person.first_name, last_name=person.last_name, sms_consent="granted",
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_staff_send_an_sms_and_see_it_delivered_in_the_history(staff_page, demo_contact, settings):
    settings.SMS_GATEWAY = "sandbox"
    page = staff_page
    page.goto(f"/contacts/{demo_contact.pk}/")
    page.get_by_role("link", name="Send SMS").click()
    page.fill("#id_text", "Hello {first_name}, your appointment is at 10:00 ✓")
    preview = page.locator("#preview")
    expect(preview.get_by_test_id("preview-text")).to_contain_text(
        f"Hello {demo_contact.first_name}"
    )
    expect(preview.get_by_test_id("encoding")).to_contain_text("UCS-2 because of")
    expect(preview.get_by_test_id("segments")).to_have_text("1")
    expect(preview.get_by_test_id("price")).to_contain_text("credits")
    page.get_by_role("button", name="Send").click()

    page.wait_for_url(re.compile(r"/sms/messages/\d+/$"))
    status = page.locator("#status").get_by_test_id("status")
    expect(status).to_have_text("Pending")

    # The worker sends it; the page follows without a reload.
    assert send_due_messages().sent == 1
    expect(status).to_have_text("Sent")
    message = Message.objects.get()
    # The provider reports delivery.
    record_status_report(gateway="sandbox", report=StatusReport(message.provider_id, "delivered"))
    expect(status).to_have_text("Delivered")

    page.get_by_role("link", name="← SMS history").click()
    row = page.get_by_test_id("messages").locator("tbody tr").first
    expect(row).to_contain_text(demo_contact.first_name)
    expect(row.get_by_test_id("status")).to_have_text("Delivered")
