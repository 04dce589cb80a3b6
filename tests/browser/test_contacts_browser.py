"""A staff member finds a contact by phone, fixes it and sees the change recorded: real pages, htmx."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from contacts.models import ContactList
from contacts.services import contacts as contact_service
from contacts.services import lists as list_service
from contacts.services.history import record_event
from contacts.views import contacts as contact_views

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def contacts(system_actor):
    alice = contact_service.create_contact(
        actor=system_actor,
        email="alice.smith@example.com",
        first_name="Alice",
        last_name="Smith",
        phone="+447700123456",
    )
    for n, (first, phone) in enumerate([("Bob", "+447700123457"), ("Carol", "+447911123456")]):
        contact_service.create_contact(
            actor=system_actor, email=f"other{n}@example.com", first_name=first, phone=phone
        )
    return alice


def test_staff_find_a_contact_by_national_phone_edit_it_tag_it_and_see_the_audit(
    page, staff_user, contacts
):
    alice = contacts

    # Log in through the real form.
    page.goto("/contacts/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", staff_user.username)
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Contacts")).to_be_visible()

    # Search as you type, with the number as a British person would write it.
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_label("Search contacts").press_sequentially("07700 123456", delay=20)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("alice.smith@example.com")
    expect(page).to_have_url(re.compile(r"q=07700"))

    # Open the contact.
    rows.first.get_by_role("link", name="Alice Smith").click()
    expect(page.get_by_role("heading", name="Alice Smith")).to_be_visible()
    history = page.locator("#history")
    expect(history.get_by_test_id("audit")).to_contain_text("system")

    # Edit the last name inline: the form replaces the details and goes back after saving.
    details = page.locator("#details")
    details.get_by_role("button", name="Edit").click()
    last_name = details.get_by_label("Last name")
    expect(last_name).to_have_value("Smith")
    last_name.fill("Smith-Jones")
    details.get_by_role("button", name="Save").click()
    expect(details.get_by_test_id("last_name")).to_have_text("Smith-Jones")

    # Add a tag: a chip appears.
    tags = page.locator("#tags")
    tags.get_by_label("Add a tag").fill("VIP")
    tags.get_by_role("button", name="Add").click()
    expect(tags.get_by_test_id("tags")).to_contain_text("VIP")

    # The history panel reloaded by itself and shows who changed what.
    audit = history.get_by_test_id("audit")
    expect(audit).to_contain_text(staff_user.username)
    expect(audit).to_contain_text("Smith-Jones")
    expect(audit.locator("del", has_text="Smith")).to_be_visible()
    expect(audit).to_contain_text("VIP")

    alice.refresh_from_db()
    assert alice.last_name == "Smith-Jones"
    assert list(alice.tags.values_list("name", flat=True)) == ["VIP"]


def test_the_history_shows_a_second_change_made_while_the_first_reload_was_slow(
    staff_page, contacts, monkeypatch
):
    # The reload after the first save, still on its way, made htmx drop the second one: the
    # panel showed the history without the tag (this test failed now and then in full runs).
    renders = {"history": 0}
    render = contact_views.render

    def slow_first_reload(request, template, *args, **kwargs):
        if template == "contacts/_history.html":
            renders["history"] += 1
            if renders["history"] == 2:  # the reload after the first save; read, not yet sent
                time.sleep(2)
        return render(request, template, *args, **kwargs)

    monkeypatch.setattr(contact_views, "render", slow_first_reload)
    page = staff_page
    page.goto(f"/contacts/{contacts.pk}/")
    history = page.locator("#history")
    expect(history.get_by_test_id("audit")).to_contain_text("system")

    details = page.locator("#details")
    details.get_by_role("button", name="Edit").click()
    details.get_by_label("Last name").fill("Smith-Jones")
    details.get_by_role("button", name="Save").click()
    expect(details.get_by_test_id("last_name")).to_have_text("Smith-Jones")
    tags = page.locator("#tags")
    tags.get_by_label("Add a tag").fill("VIP")
    tags.get_by_role("button", name="Add").click()
    expect(tags.get_by_test_id("tags")).to_contain_text("VIP")

    expect(history.get_by_test_id("audit")).to_contain_text("VIP", timeout=8000)
    assert renders["history"] >= 3


def test_a_search_typed_after_sorting_by_a_column_keeps_that_order(staff_page, system_actor):
    for first, last in [("Amy", "Zeller"), ("Anna", "Baker"), ("Abe", "Moss")]:
        contact_service.create_contact(
            actor=system_actor,
            email=f"{first.lower()}@example.com",
            first_name=first,
            last_name=last,
        )
    page = staff_page
    page.goto("/contacts/")
    names = page.locator("#results tbody tr td:first-child a")
    page.locator("#results th a", has_text="Name").click()
    expect(page).to_have_url(re.compile(r"sort=name"))
    expect(names).to_have_text(["Anna Baker", "Abe Moss", "Amy Zeller"])

    # The sort link swapped only the results; the search box must still search by name.
    page.get_by_label("Search contacts").press_sequentially("a", delay=20)
    expect(page).to_have_url(re.compile(r"q=a.*sort=name"))
    expect(names).to_have_text(["Anna Baker", "Abe Moss", "Amy Zeller"])


def test_saving_one_section_does_not_make_another_open_form_conflict_with_itself(
    staff_page, contacts, system_actor
):
    alice, page = contacts, staff_page
    page.goto(f"/contacts/{alice.pk}/")
    details = page.locator("#details")
    details.get_by_role("button", name="Edit").click()
    details.get_by_label("First name").fill("Ally")

    # While the details form is open, the same person sets a metadata key.
    page.locator("#meta-key").fill("source")
    page.locator("#meta-value").fill("fair")
    page.locator("#metadata").get_by_role("button", name="Set").click()
    expect(page.locator("#metadata")).to_contain_text("fair")

    details.get_by_role("button", name="Save").click()
    expect(details.get_by_test_id("first_name")).to_have_text("Ally")
    alice.refresh_from_db()
    assert (alice.first_name, alice.metadata) == ("Ally", {"source": "fair"})

    # A colleague's change in between is still caught, even after another save of one's own.
    details.get_by_role("button", name="Edit").click()
    details.get_by_label("First name").fill("Alicia")
    contact_service.update_contact(actor=system_actor, contact=alice, last_name="Jones")
    page.locator("#meta-key").fill("source")
    page.locator("#meta-value").fill("web")
    page.locator("#metadata").get_by_role("button", name="Set").click()
    expect(page.locator("#metadata")).to_contain_text("web")
    details.get_by_role("button", name="Save").click()
    expect(details).to_contain_text("changed by tests while you were editing")
    alice.refresh_from_db()
    assert (alice.first_name, alice.last_name) == ("Ally", "Jones")


def test_staff_mark_a_pair_as_not_a_duplicate_and_undo_it(staff_page, system_actor):
    for email, first in (("ann@example.com", "Ann"), ("bob@example.com", "Bob")):
        contact_service.create_contact(
            actor=system_actor, email=email, first_name=first, phone="+447400120001"
        )
    page = staff_page

    page.goto("/duplicates/")
    row = page.get_by_test_id("pair")
    expect(row).to_contain_text("same phone")
    row.get_by_role("button", name="Not a duplicate").click()

    # The row swaps in place to say so, with an undo, and a toast confirms.
    expect(row).to_contain_text("not a duplicate")
    expect(page.locator("#toasts")).to_contain_text("will not be suggested again")
    # The tab's count follows at once, without a reload.
    expect(page.get_by_role("link", name="Not duplicates (1)")).to_be_visible()
    page.reload()
    expect(page.get_by_text("No probable duplicates found.")).to_be_visible()

    page.get_by_role("link", name="Not duplicates (1)").click()
    row = page.get_by_test_id("pair")
    expect(row).to_contain_text("ann@example.com")
    row.get_by_role("button", name="Undo").click()
    expect(row.get_by_role("button", name="Not a duplicate")).to_be_visible()
    tab = page.get_by_role("link", name="Not duplicates (0)")
    expect(tab).to_have_attribute("aria-current", "page")  # only the count was swapped

    page.goto("/duplicates/")
    expect(page.get_by_test_id("pair")).to_contain_text("bob@example.com")


def test_a_click_the_server_refuses_says_so_instead_of_doing_nothing(staff_page, system_actor):
    for email, first in (("ann@example.com", "Ann"), ("bob@example.com", "Bob")):
        contact_service.create_contact(
            actor=system_actor, email=email, first_name=first, phone="+447400120001"
        )
    page = staff_page
    page.goto("/duplicates/")
    # As after logging in again in another tab: this page's CSRF token no longer holds.
    cookies = [c for c in page.context.cookies() if c["name"] != "csrftoken"]
    page.context.clear_cookies()
    page.context.add_cookies(cookies)
    page.get_by_test_id("pair").get_by_role("button", name="Not a duplicate").click()
    expect(page.locator("#toasts")).to_contain_text("This page is out of date")
    expect(page.get_by_test_id("pair")).to_contain_text("same phone")


def test_saving_one_custom_field_keeps_the_line_breaks_of_another(staff_page, system_actor):
    from contacts.models import Field
    from contacts.services import fields as field_service

    Field.objects.create(name="Notes", type="text")
    Field.objects.create(name="Age", type="number")
    # An import (quoted newlines) or an agent stored a text of several lines.
    alice = contact_service.create_contact(
        actor=system_actor,
        email="alice@example.com",
        fields={"Notes": "Gate code 1234\nRing twice"},
    )
    page = staff_page
    page.goto(f"/contacts/{alice.pk}/")
    section = page.locator("#fields")
    section.get_by_role("button", name="Edit").click()
    section.get_by_label("Age").fill("41")
    section.get_by_role("button", name="Save").click()

    expect(section).to_contain_text("41")
    assert field_service.current_values(alice) == {
        "Notes": "Gate code 1234\nRing twice",
        "Age": 41,
    }


def test_older_history_the_person_opened_stays_open_when_the_contact_changes(
    staff_page, contacts, system_actor
):
    alice, page = contacts, staff_page
    for n in range(55):
        record_event(actor=system_actor, contact=alice, name=f"visit_{n:02d}")
    page.goto(f"/contacts/{alice.pk}/")
    history = page.locator("#history")
    interactions = history.get_by_test_id("interactions")
    expect(interactions).to_contain_text("visit_54")
    history.get_by_role("button", name="Show older entries").click()
    expect(interactions).to_contain_text("visit_04")

    # A save elsewhere on the page reloads the history: with what was open, not the latest 50.
    reloads: list[str] = []
    page.on("request", lambda r: "/history/" in r.url and reloads.append(r.url))
    tags = page.locator("#tags")
    for name in ("VIP", "Lead"):
        tags.get_by_label("Add a tag").fill(name)
        tags.get_by_role("button", name="Add").click()
        expect(interactions).to_contain_text(f"Tagged {name}")
    expect(interactions).to_contain_text("visit_04")
    assert len(reloads) == 2, "one reload per change (the replaced panel stops listening)"


def test_a_double_clicked_create_list_makes_one_list(staff_page, monkeypatch):
    # A server a little slow to answer: the second click of a double click posts the form again.
    create = list_service.create_list
    monkeypatch.setattr(
        list_service, "create_list", lambda **kwargs: time.sleep(0.5) or create(**kwargs)
    )
    page = staff_page
    page.goto("/lists/")
    page.get_by_label("Name").fill("Spring fair")
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    box = page.get_by_role("button", name="Create list").bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, delay=120)

    expect(page.locator(".toast")).to_contain_text("Created list Spring fair.")
    assert len(posts) == 2, "Chromium sent the form twice"
    expect(page.locator("table tbody tr")).to_have_count(1)
    assert ContactList.objects.filter(name="Spring fair").count() == 1


def test_a_search_after_the_session_ended_goes_to_log_in_and_back(staff_page, staff_user):
    # The login page used to appear inside the results table.
    page = staff_page
    page.goto("/contacts/")
    page.context.clear_cookies()  # the session ended
    page.get_by_label("Search contacts").press_sequentially("ali", delay=20)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/contacts/"))
    expect(page.locator("#results")).to_have_count(0)
    page.fill("#id_username", staff_user.username)
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/contacts/$"))


def test_a_search_the_server_fails_says_so(staff_page, monkeypatch):
    from contacts.views import contacts as contact_views

    page = staff_page
    page.goto("/contacts/")

    def broken(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(contact_views, "search_contacts", broken)
    page.get_by_label("Search contacts").press_sequentially("ali", delay=20)
    expect(page.locator(".toast-error")).to_contain_text("the server answered HTTP 500")
