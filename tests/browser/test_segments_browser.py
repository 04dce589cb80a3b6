"""Building a two-group segment in a real browser: the live count follows every edit."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from contacts.models import Segment
from contacts.services.contacts import create_contact
from dashboard.actors import Actor

pytestmark = pytest.mark.django_db(transaction=True)
# Each edit is a round trip to a live server on a busy two-core machine: allow for it.
expect.set_options(timeout=15_000)


def ready(page, selector: str):
    """The element, once htmx has finished swapping it in and bound its triggers.

    A freshly swapped input exists a moment before htmx processes it; a change made in that
    window would fire no request (a person is never that fast, a test is).
    """
    element = page.locator(selector)
    expect(element).to_be_attached()
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)
    return element


@pytest.fixture
def audience():
    actor = Actor.system("tests")
    people = [
        ("ann@acme.com", "+447400123456", ["VIP"]),
        ("bob@acme.com", "+33612345678", ["VIP"]),
        ("cat@acme.com", "+447400123457", []),
        ("dan@acme.com", "", ["VIP"]),
        ("eve@other.org", "+447400123458", ["Beta"]),
    ]
    for email, phone, tags in people:
        create_contact(actor=actor, email=email, phone=phone, tags=tags)


def test_building_a_two_group_segment_updates_the_live_count(staff_page, audience):
    page = staff_page
    page.goto("/segments/new/")
    count = page.get_by_test_id("live-count")
    expect(count).to_have_text("5")  # no conditions yet: everyone

    # Group 1 (the root, "all"): tagged VIP.
    page.get_by_test_id("add-condition").first.click()
    ready(page, "select[name='r.0:field']").select_option("tag")
    expect(page.locator("select[name='r.0:op']")).to_have_value("has")
    ready(page, "select[name='r.0:value']").select_option(label="VIP")
    expect(count).to_have_text("3")

    # Group 2, nested ("any"): phone in the UK or email at other.org.
    page.get_by_test_id("add-group").first.click()
    ready(page, "select[name='r.1.0:field']").select_option("phone_country")
    # Choosing a field re-renders the builder with that field's operators and value input.
    expect(page.locator("input[name='r.1.0:value']")).to_have_attribute("placeholder", "GB")
    ready(page, "input[name='r.1.0:value']").fill("GB")
    expect(count).to_have_text("1")  # Ann
    page.locator("fieldset[data-path='r.1'] [data-testid=add-condition]").click()
    ready(page, "select[name='r.1.1:field']").select_option("email_domain")
    expect(page.locator("select[name='r.1.1:op']")).to_have_value("equals")
    ready(page, "input[name='r.1.1:value']").fill("acme.com")
    expect(count).to_have_text("3")  # VIP and (GB or acme.com)
    expect(page.locator("#preview")).to_contain_text("dan@acme.com")

    page.fill("#segment-name", "VIP, UK or Acme")
    page.get_by_role("button", name="Save segment").click()
    page.wait_for_url("**/segments/*/")
    assert Segment.objects.get().rules == {
        "all": [
            {"field": "tag", "op": "has", "value": Segment.objects.get().rules["all"][0]["value"]},
            {"any": [
                {"field": "phone_country", "op": "equals", "value": "GB"},
                {"field": "email_domain", "op": "equals", "value": "acme.com"},
            ]},
        ]
    }  # fmt: skip
    expect(page.locator("#results")).to_contain_text("bob@acme.com")
