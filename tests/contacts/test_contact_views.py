"""The contact pages through the test client: search, create, the contact page and its sections."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid

import pytest
from django.urls import reverse

from contacts.models import Contact, ContactTag, Tag
from contacts.services import contacts as contact_service
from contacts.services import fields as field_service
from contacts.services import lists as list_service
from contacts.services import tags as tag_service
from contacts.services.duplicates import merge_contacts
from contacts.services.erasure import erase_contact
from contacts.services.history import record_event
from contacts.services.segments import create_segment
from contacts.views import contacts as contact_views
from dashboard.actors import Actor
from sms.services.optouts import add_opt_out
from tests.contacts.helpers import last_audit, queries_to_get

pytestmark = pytest.mark.django_db


def _triggers(response) -> dict:
    return json.loads(response.headers.get("HX-Trigger", "{}"))


# --- search -----------------------------------------------------------------------------------


@pytest.fixture
def alice(make_contact):
    return make_contact(
        email="alice@example.com",
        first_name="Alice",
        last_name="Smith",
        phone="+447700123456",
        tags=["customer"],
    )


def test_the_list_page_shows_contacts_with_their_tags(staff_client, alice, make_contact):
    make_contact(email="bob@example.com", first_name="Bob")

    response = staff_client.get(reverse("contacts:list"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body
    assert "Alice Smith" in body and "bob@example.com" in body
    assert "+44 7700 123456" in body, "phones grouped as people write them"
    assert "customer" in body
    assert reverse("contacts:detail", args=[alice.pk]) in body


def test_searching_by_a_national_phone_finds_the_contact(staff_client, alice, make_contact):
    make_contact(email="bob@example.com", first_name="Bob")

    response = staff_client.get(reverse("contacts:list"), {"q": "07700 123456"})

    body = response.content.decode()
    assert "alice@example.com" in body
    assert "bob@example.com" not in body


def test_htmx_search_answers_with_only_the_results(htmx_client, alice):
    response = htmx_client.get(
        reverse("contacts:list"), {"q": "ali"}, headers={"HX-Target": "results"}
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and "searchbar" not in body
    assert "alice@example.com" in body


def test_a_search_as_you_type_tells_screen_readers_what_it_found(staff_client, htmx_client, alice):
    page = staff_client.get(reverse("contacts:list")).content.decode()
    found = htmx_client.get(
        reverse("contacts:list"), {"q": "ali"}, headers={"HX-Target": "results"}
    )
    none = htmx_client.get(reverse("contacts:list"), {"q": "zeb"}, headers={"HX-Target": "results"})

    assert 'id="results-status" class="visually-hidden" role="status"' in page
    status = '<span hx-swap-oob="innerHTML:#results-status">'
    assert status + "Showing contacts 1 to 1." in found.content.decode()
    assert status + "No contact matches." in none.content.decode()


def test_a_search_without_matches_says_so(staff_client, alice):
    response = staff_client.get(reverse("contacts:list"), {"q": "zebra"})

    assert "No contact matches “zebra”" in response.content.decode()


def test_the_list_page_filters_by_tag_and_sorts(staff_client, alice, make_contact):
    make_contact(email="bob@example.com", first_name="Bob", last_name="Adams")
    tag = Tag.objects.get(name="customer")

    filtered = staff_client.get(reverse("contacts:list"), {"tag": tag.pk}).content.decode()
    by_name = staff_client.get(reverse("contacts:list"), {"sort": "name"}).content.decode()
    ignored = staff_client.get(reverse("contacts:list"), {"sort": "bogus", "tag": "x", "page": "y"})

    assert "alice@example.com" in filtered and "bob@example.com" not in filtered
    assert by_name.index("bob@example.com") < by_name.index("alice@example.com")
    assert ignored.status_code == 200


def test_the_list_page_pages_through_results(staff_client, make_contact, settings):
    settings.CONTACTS_PAGE_SIZE = 2
    for n in range(3):
        make_contact(email=f"p{n}@example.com")

    first = staff_client.get(reverse("contacts:list"), {"sort": "email"}).content.decode()
    second = staff_client.get(reverse("contacts:list"), {"sort": "email", "page": 2})

    assert "p0@example.com" in first and "p2@example.com" not in first
    assert "Next" in first
    assert "p2@example.com" in second.content.decode()
    assert "Next" not in second.content.decode()


@pytest.mark.parametrize("q", ["al\x00ice", "alice\x00@example.com", "+44 7700\x00"])
def test_a_search_holding_a_nul_finds_nobody_instead_of_a_500(staff_client, staff_actor, alice, q):
    segment = create_segment(actor=staff_actor, name="Everyone", rules={"all": []})

    for url in (reverse("contacts:list"), reverse("contacts:segment_detail", args=[segment.pk])):
        response = staff_client.get(url, {"q": q})

        assert response.status_code == 200
        assert "alice@example.com" not in response.content.decode()


def test_a_page_past_the_end_says_so_and_links_back_instead_of_no_contacts_yet(
    staff_client, make_contact, settings
):
    settings.CONTACTS_PAGE_SIZE = 2
    for n in range(3):
        make_contact(email=f"p{n}@example.com")

    body = staff_client.get(reverse("contacts:list"), {"q": "p", "page": 7}).content.decode()

    assert "No contacts yet" not in body
    assert "No more contacts on page 7" in body
    assert 'href="?q=p"' in body, "back to the first page of the same search"


def test_a_hand_typed_huge_page_number_is_an_empty_page_not_a_500(staff_client, alice):
    response = staff_client.get(reverse("contacts:list"), {"page": "99999999999999999999"})

    assert response.status_code == 200
    assert "No more contacts on page 99999999999999999999" in response.content.decode()


def test_filters_without_a_search_say_no_contact_matches_them(staff_client, alice):
    empty = list_service.create_list(actor=Actor.system(), name="Empty")

    body = staff_client.get(reverse("contacts:list"), {"list": empty.pk}).content.decode()

    assert "No contact matches these filters." in body
    assert "“”" not in body


def test_a_link_to_a_deleted_tag_shows_that_filter_rather_than_any_tag(staff_client, alice):
    tag = Tag.objects.get(name="customer")
    tag_id = tag.pk
    tag.delete()

    body = staff_client.get(reverse("contacts:list"), {"tag": tag_id}).content.decode()

    assert f'<option value="{tag_id}" selected>(deleted tag)</option>' in body
    assert "No contact matches these filters." in body


def test_an_htmx_sort_keeps_the_search_forms_sort_in_step(htmx_client, alice):
    response = htmx_client.get(
        reverse("contacts:list"), {"sort": "name"}, headers={"HX-Target": "results"}
    )

    body = response.content.decode()
    # Out of band: the hidden input outside #results, which the next keystroke submits.
    assert 'name="sort" value="name" id="contact-sort" hx-swap-oob="true"' in body


def test_the_list_page_runs_a_fixed_number_of_queries(
    staff_client, make_contact, django_assert_max_num_queries
):
    make_contact(tags=["a", "b"], phone="+447700123400")
    with_one = queries_to_get(staff_client, reverse("contacts:list"))
    for n in range(1, 30):
        make_contact(email=f"p{n}@example.com", tags=["a", "b"], phone=f"+4477001234{n:02d}")

    # The contacts, their tags (one prefetch), the tag and list filters, plus the session, user
    # and navigation queries every page makes.
    with django_assert_max_num_queries(10):
        response = staff_client.get(reverse("contacts:list"))

    assert queries_to_get(staff_client, reverse("contacts:list")) == with_one, (
        "a query per row (N+1)"
    )
    assert response.content.decode().count('class="chip"') >= 25 * 2


# --- create -----------------------------------------------------------------------------------


def test_staff_create_a_contact_and_land_on_its_page(staff_client, staff_user):
    response = staff_client.post(
        reverse("contacts:create"),
        {
            "email": "New@Example.com",
            "phone": "07700 123456",
            "first_name": "Nia",
            "last_name": "",
            "email_consent": "granted",
            "sms_consent": "unknown",
        },
    )

    contact = Contact.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("contacts:detail", args=[contact.pk])
    assert (contact.email, contact.phone) == ("new@example.com", "+447700123456")
    assert last_audit(contact).actor_user == staff_user


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "nope"}, "is not a valid email address"),
        ({"email": "taken@EXAMPLE.com"}, "Another contact already uses taken@example.com"),
        ({"phone": "12345"}, "is not a valid phone number"),
    ],
)
def test_a_bad_new_contact_shows_the_message_next_to_the_field(
    staff_client, make_contact, data, message
):
    make_contact(email="taken@example.com")
    form = {"email": "ok@example.com", "email_consent": "unknown", "sms_consent": "unknown"}

    response = staff_client.post(reverse("contacts:create"), {**form, **data})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["form"].errors[next(iter(data))]
    assert Contact.objects.count() == 1


# --- the contact page -------------------------------------------------------------------------


def test_the_contact_page_shows_everything_about_a_contact(staff_client, staff_actor, alice):
    field_service.create_field(actor=staff_actor, name="Plan", type="text")
    vip = list_service.create_list(actor=staff_actor, name="VIP")
    contact_service.update_contact(
        actor=staff_actor,
        contact=alice,
        fields={"Plan": "pro"},
        metadata={"crm_id": 1234},
        list_ids=[vip.pk],
    )

    response = staff_client.get(reverse("contacts:detail", args=[alice.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    for text in ("Alice Smith", "alice@example.com", "+447700123456", "Plan", "pro", "crm_id",
                 "1234", "customer", "VIP", reverse("contacts:history", args=[alice.pk])):  # fmt: skip
        assert text in body, text


def test_a_contact_who_replied_stop_is_shown_on_the_stop_list_beside_their_consent(
    staff_client, staff_actor, alice
):
    contact_service.update_contact(actor=staff_actor, contact=alice, sms_consent="granted")
    page = reverse("contacts:detail", args=[alice.pk])
    assert 'data-testid="stop-list"' not in staff_client.get(page).content.decode()

    add_opt_out(actor=staff_actor, phone=alice.phone, reason="replied “STOP”")

    body = staff_client.get(page).content.decode()
    assert "Granted" in body and 'data-testid="stop-list"' in body
    assert "on the STOP list since" in body and "replied “STOP”" in body


def test_an_unknown_contact_is_a_404(staff_client):
    response = staff_client.get("/contacts/00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404


def _edit_form(contact: Contact, **changes) -> dict:
    data = {
        "email": contact.email,
        "phone": contact.phone,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email_consent": contact.email_consent,
        "sms_consent": contact.sms_consent,
        "version": contact.version,
    }
    return {**data, **changes}


def test_the_edit_form_is_an_htmx_partial_with_the_current_version(htmx_client, alice):
    response = htmx_client.get(reverse("contacts:edit", args=[alice.pk]))

    body = response.content.decode()
    assert "<html" not in body
    assert 'name="version" value="1"' in body
    assert 'value="alice@example.com"' in body
    assert 'value="+44 7700 123456"' in body, "the phone as people write it"


def test_an_inline_edit_saves_and_tells_the_page(htmx_client, alice, staff_user):
    response = htmx_client.post(
        reverse("contacts:edit", args=[alice.pk]), _edit_form(alice, first_name="Alicia")
    )

    assert response.status_code == 200
    assert "Alicia" in response.content.decode()
    assert 'name="version"' not in response.content.decode(), "back to the read-only view"
    assert set(_triggers(response)) == {"contact-changed", "toast"}
    alice.refresh_from_db()
    assert (alice.first_name, alice.version) == ("Alicia", 2)
    entry = last_audit(alice)
    assert (entry.actor_user, entry.changes) == (staff_user, {"first_name": ["Alice", "Alicia"]})


def test_an_edit_without_htmx_redirects_to_the_contact_page(staff_client, alice):
    response = staff_client.post(
        reverse("contacts:edit", args=[alice.pk]), _edit_form(alice, last_name="Jones")
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.last_name == "Jones"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"email": "broken"}, "email", "is not a valid email address"),
        ({"email": "BOB@example.com"}, "email", "Another contact already uses bob@example.com"),
        ({"phone": "0770"}, "phone", "is not a valid phone number"),
        ({"email_consent": "maybe"}, "email_consent", "Select a valid choice"),
    ],
)
def test_a_bad_edit_shows_the_error_next_to_the_field_and_keeps_the_data(
    htmx_client, alice, make_contact, changes, field, message
):
    make_contact(email="bob@example.com")

    response = htmx_client.post(
        reverse("contacts:edit", args=[alice.pk]), _edit_form(alice, first_name="Lost", **changes)
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert message in body
    assert response.context["form"].errors[field]
    assert 'value="Lost"' in body, "what was typed stays in the form"
    assert "Load the latest version" not in body
    alice.refresh_from_db()
    assert (alice.first_name, alice.version) == ("Alice", 1)


def test_a_stale_edit_is_refused_with_a_clear_message_and_overwrites_nothing(htmx_client, alice):
    # Someone else saves while this staff member has the form open at version 1.
    contact_service.update_contact(
        actor=Actor.agent(1, "Enricher"), contact=alice, last_name="Smith-Jones"
    )

    response = htmx_client.post(
        reverse("contacts:edit", args=[alice.pk]), _edit_form(alice, first_name="Ally")
    )

    body = response.content.decode()
    assert "changed by Enricher while you were editing" in body
    assert "form-error" in body
    # Saving again would be refused again: the form offers the latest version instead.
    assert "Load the latest version" in body
    assert f'hx-get="{reverse("contacts:edit", args=[alice.pk])}"' in body
    assert 'type="submit">Save' not in body
    fresh = htmx_client.get(reverse("contacts:edit", args=[alice.pk])).content.decode()
    assert 'name="version" value="2"' in fresh and 'value="Smith-Jones"' in fresh
    assert "contact-changed" not in _triggers(response)
    alice.refresh_from_db()
    assert (alice.first_name, alice.last_name, alice.version) == ("Alice", "Smith-Jones", 2)


def test_cancel_shows_the_read_only_details_again(htmx_client, alice):
    response = htmx_client.get(reverse("contacts:details", args=[alice.pk]))

    assert 'data-testid="email"' in response.content.decode()


# --- custom fields ----------------------------------------------------------------------------


@pytest.fixture
def fields(staff_actor):
    return {
        name: field_service.create_field(actor=staff_actor, name=name, type=type)
        for name, type in [
            ("Age", "number"),
            ("Birthday", "date"),
            ("VIP", "boolean"),
            ("Plan", "text"),
        ]  # fmt: skip
    }


def test_custom_fields_are_edited_inline(htmx_client, alice, fields):
    form = htmx_client.get(reverse("contacts:fields_edit", args=[alice.pk]))
    assert f'name="field_{fields["Age"].pk}"' in form.content.decode()

    response = htmx_client.post(
        reverse("contacts:fields_edit", args=[alice.pk]),
        {
            f"field_{fields['Age'].pk}": "41",
            f"field_{fields['Birthday'].pk}": "1983-04-01",
            f"field_{fields['VIP'].pk}": "true",
            f"field_{fields['Plan'].pk}": "",
            "version": alice.version,
        },
    )

    assert response.status_code == 200
    assert "contact-changed" in _triggers(response)
    body = response.content.decode()
    assert "41" in body and "1983-04-01" in body and "yes" in body
    assert field_service.current_values(alice) == {
        "Age": 41,
        "Birthday": dt.date(1983, 4, 1),
        "VIP": True,
    }


def test_custom_fields_saved_without_htmx_land_back_on_the_contact_page(
    staff_client, alice, fields
):
    # The form posts to the same URL when htmx is not running (it has method and action).
    response = staff_client.post(
        reverse("contacts:fields_edit", args=[alice.pk]),
        {f"field_{fields['Age'].pk}": "41", "version": alice.version},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("contacts:detail", args=[alice.pk])
    assert field_service.current_values(alice) == {"Age": 41}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("Age", "forty", "“Age” expects a number; got “forty”."),
        ("Birthday", "01/04/1983", "“Birthday” expects a date as YYYY-MM-DD"),
    ],
)
def test_a_field_value_of_the_wrong_type_is_shown_next_to_that_field(
    htmx_client, alice, fields, name, value, message
):
    alice = contact_service.update_contact(
        actor=Actor.system(), contact=alice, fields={"Plan": "free"}
    )
    key = f"field_{fields[name].pk}"

    response = htmx_client.post(
        reverse("contacts:fields_edit", args=[alice.pk]),
        {key: value, f"field_{fields['Plan'].pk}": "pro", "version": alice.version},
    )

    assert message in response.content.decode()
    assert response.context["form"].errors[key]
    assert field_service.current_values(alice) == {"Plan": "free"}


def test_a_custom_fields_save_based_on_a_stale_version_is_refused(htmx_client, alice, fields):
    form = htmx_client.get(reverse("contacts:fields_edit", args=[alice.pk]))
    stale_version = form.context["form"].initial["version"]
    # Someone else saves a value while this editor has the form open.
    contact_service.update_contact(actor=Actor.system(), contact=alice, fields={"Plan": "team"})

    response = htmx_client.post(
        reverse("contacts:fields_edit", args=[alice.pk]),
        {f"field_{fields['Plan'].pk}": "free", "version": stale_version},
    )

    assert "changed by system while you were editing" in response.content.decode()
    assert field_service.current_values(alice) == {"Plan": "team"}
    # Saving again would be refused again: the form offers the latest version instead.
    assert "Load the latest version" in response.content.decode()
    assert 'type="submit">Save' not in response.content.decode()


def test_a_value_typed_for_a_field_deleted_meanwhile_is_not_reported_saved(
    htmx_client, alice, fields, staff_actor
):
    plan_key = f"field_{fields['Plan'].pk}"
    form = {f"field_{fields['Age'].pk}": "41", plan_key: "enterprise", "version": alice.version}
    field_service.delete_field(actor=staff_actor, field=fields["Plan"])

    response = htmx_client.post(reverse("contacts:fields_edit", args=[alice.pk]), form)

    body = response.content.decode()
    assert "contact-changed" not in _triggers(response)
    assert "was deleted while you were editing, so “enterprise” cannot be saved" in body
    assert 'value="41"' in body  # what was typed for the fields that exist stays
    assert field_service.current_values(alice) == {}
    # Saved again from the refreshed form (no input for the deleted field), it goes through.
    del form[plan_key]
    saved = htmx_client.post(reverse("contacts:fields_edit", args=[alice.pk]), form)
    assert _triggers(saved)["toast"]["message"] == "Custom fields saved."
    assert field_service.current_values(alice) == {"Age": 41}


def test_a_text_of_several_lines_comes_back_from_the_form_unchanged(htmx_client, alice, fields):
    alice = contact_service.update_contact(
        actor=Actor.system(), contact=alice, fields={"Plan": "Gate code 1234\nRing twice"}
    )
    form = htmx_client.get(reverse("contacts:fields_edit", args=[alice.pk])).content.decode()
    # A textarea keeps the line break an <input> would drop; browsers send it back as CRLF.
    assert re.search(r"<textarea[^>]*>\s*Gate code 1234\nRing twice</textarea>", form)

    htmx_client.post(
        reverse("contacts:fields_edit", args=[alice.pk]),
        {
            f"field_{fields['Age'].pk}": "41",
            f"field_{fields['Plan'].pk}": "Gate code 1234\r\nRing twice",
            "version": alice.version,
        },
    )

    assert field_service.current_values(alice) == {"Age": 41, "Plan": "Gate code 1234\nRing twice"}
    assert list(last_audit(alice).changes) == ["field:Age"]


def test_cancelling_the_fields_form_shows_the_values(htmx_client, alice, fields):
    response = htmx_client.get(reverse("contacts:fields_edit", args=[alice.pk]), {"cancel": 1})

    assert "Custom fields" in response.content.decode()
    assert "<form" not in response.content.decode()


# --- tags and lists on the contact page -------------------------------------------------------


def test_staff_add_and_remove_a_tag(htmx_client, alice):
    added = htmx_client.post(reverse("contacts:tag_add", args=[alice.pk]), {"name": "Lead"})

    assert "Lead" in added.content.decode()
    assert _triggers(added)["toast"]["message"] == "Tagged Lead."
    tag = Tag.objects.get(name="Lead")
    assert ContactTag.objects.filter(contact=alice, tag=tag).exists()

    again = htmx_client.post(reverse("contacts:tag_add", args=[alice.pk]), {"name": "lead"})
    assert _triggers(again)["toast"] == {"message": "Already tagged Lead.", "level": "info"}
    # Nothing changed: the history panel (and its "Show older entries") is left alone.
    assert "contact-changed" not in _triggers(again)

    removed = htmx_client.post(reverse("contacts:tag_remove", args=[alice.pk, tag.pk]))
    assert removed.status_code == 200
    assert not ContactTag.objects.filter(contact=alice, tag=tag).exists()
    assert last_audit(alice).action == "contact.untag"


def test_removing_a_tag_or_list_someone_removed_meanwhile_says_so(htmx_client, alice, staff_actor):
    tag, _ = tag_service.tag_contact(actor=staff_actor, contact=alice, tag_name="Lead")
    vip = list_service.create_list(actor=staff_actor, name="VIP")
    list_service.add_to_list(actor=staff_actor, contact=alice, contact_list=vip)
    # Removed in another tab (or by the first of two clicks).
    tag_service.untag_contact(actor=staff_actor, contact=alice, tag=tag)
    list_service.remove_from_list(actor=staff_actor, contact=alice, contact_list=vip)

    untagged = htmx_client.post(reverse("contacts:tag_remove", args=[alice.pk, tag.pk]))
    unlisted = htmx_client.post(reverse("contacts:list_remove", args=[alice.pk, vip.pk]))

    assert _triggers(untagged)["toast"]["message"] == "Lead was already removed."
    assert _triggers(unlisted)["toast"]["message"] == "Already removed from VIP."
    assert "contact-changed" not in _triggers(untagged)
    assert "contact-changed" not in _triggers(unlisted)


def test_a_blank_or_vanished_tag_gets_a_message(htmx_client, alice):
    blank = htmx_client.post(reverse("contacts:tag_add", args=[alice.pk]), {"name": "  "})
    gone = htmx_client.post(reverse("contacts:tag_remove", args=[alice.pk, 999_999]))

    assert "Type a tag name" in blank.content.decode()
    assert "That tag no longer exists." in gone.content.decode()
    assert "contact-changed" not in _triggers(blank)


def test_staff_add_and_remove_a_list(htmx_client, alice, staff_actor):
    vip = list_service.create_list(actor=staff_actor, name="VIP")

    added = htmx_client.post(reverse("contacts:list_add", args=[alice.pk]), {"list_id": vip.pk})
    assert list(alice.lists.all()) == [vip]
    assert _triggers(added)["toast"]["message"] == "Added to VIP."

    again = htmx_client.post(reverse("contacts:list_add", args=[alice.pk]), {"list_id": vip.pk})
    assert _triggers(again)["toast"]["message"] == "Already in VIP."
    assert "contact-changed" not in _triggers(again)

    removed = htmx_client.post(reverse("contacts:list_remove", args=[alice.pk, vip.pk]))
    assert not alice.lists.exists()
    assert _triggers(removed)["toast"]["message"] == "Removed from VIP."


def test_adding_to_a_list_deleted_since_the_page_loaded_says_it_is_gone(
    htmx_client, alice, staff_actor
):
    pilot = list_service.create_list(actor=staff_actor, name="Pilot")
    pilot_id = pilot.pk
    list_service.delete_list(actor=staff_actor, contact_list=pilot)

    response = htmx_client.post(
        reverse("contacts:list_add", args=[alice.pk]), {"list_id": pilot_id}
    )

    assert "That list no longer exists." in response.content.decode()
    assert "Choose a list." not in response.content.decode()
    assert "contact-changed" not in _triggers(response)


def test_a_full_list_is_refused_with_its_message(htmx_client, alice, make_contact, staff_actor):
    full = list_service.create_list(actor=staff_actor, name="Pilot", limit=1)
    list_service.add_to_list(actor=staff_actor, contact=make_contact(), contact_list=full)

    response = htmx_client.post(reverse("contacts:list_add", args=[alice.pk]), {"list_id": full.pk})

    assert "“Pilot” is full (1 contacts)." in response.content.decode()
    assert not alice.lists.exists()
    assert "contact-changed" not in _triggers(response)


def test_adding_to_no_list_asks_to_choose_one(htmx_client, alice):
    response = htmx_client.post(reverse("contacts:list_add", args=[alice.pk]), {"list_id": ""})

    assert "Choose a list." in response.content.decode()


# --- metadata ---------------------------------------------------------------------------------


def test_metadata_is_set_as_json_or_text_and_removed_with_an_empty_value(htmx_client, alice):
    url = reverse("contacts:metadata_set", args=[alice.pk])

    htmx_client.post(url, {"key": "seats", "value": "3"})
    htmx_client.post(url, {"key": "plan", "value": "pro plan"})
    htmx_client.post(url, {"key": "flags", "value": '{"beta": true}'})
    alice.refresh_from_db()
    assert alice.metadata == {"seats": 3, "plan": "pro plan", "flags": {"beta": True}}

    response = htmx_client.post(url, {"key": "seats", "value": ""})
    alice.refresh_from_db()
    assert alice.metadata == {"plan": "pro plan", "flags": {"beta": True}}
    assert "contact-changed" in _triggers(response)
    assert last_audit(alice).changes["metadata"][0]["seats"] == 3


def test_metadata_reads_as_json_so_what_is_shown_can_be_typed_back(
    htmx_client, staff_client, alice
):
    url = reverse("contacts:metadata_set", args=[alice.pk])
    htmx_client.post(url, {"key": "flags", "value": '{"beta": true, "note": null}'})
    htmx_client.post(url, {"key": "vip", "value": "true"})
    htmx_client.post(url, {"key": "plan", "value": "pro plan"})

    body = staff_client.get(reverse("contacts:detail", args=[alice.pk])).content.decode()

    assert "{&quot;beta&quot;: true, &quot;note&quot;: null}" in body
    assert '<dd class="mono">true</dd>' in body and '<dd class="mono">pro plan</dd>' in body
    assert "True" not in body.split('id="metadata"')[1].split("</section>")[0]
    # Typing back what is shown keeps the value's type.
    htmx_client.post(url, {"key": "flags", "value": '{"beta": true, "note": null}'})
    alice.refresh_from_db()
    assert alice.metadata["flags"] == {"beta": True, "note": None}


def test_metadata_without_a_key_is_refused(htmx_client, alice):
    response = htmx_client.post(
        reverse("contacts:metadata_set", args=[alice.pk]), {"key": "", "value": "x"}
    )

    assert "Give a key" in response.content.decode()
    alice.refresh_from_db()
    assert alice.metadata == {}


def test_metadata_too_large_is_refused_and_kept_as_it_was(htmx_client, alice, monkeypatch):
    monkeypatch.setattr(contact_service, "METADATA_MAX_BYTES", 50)

    response = htmx_client.post(
        reverse("contacts:metadata_set", args=[alice.pk]), {"key": "notes", "value": "x" * 100}
    )

    assert "Metadata is limited to" in response.content.decode()
    alice.refresh_from_db()
    assert alice.metadata == {}


def test_refused_metadata_stays_in_the_form_to_fix(htmx_client, alice, monkeypatch):
    monkeypatch.setattr(contact_service, "METADATA_MAX_BYTES", 50)
    typed = '{"summary": "a long note <b>typed</b> by hand", "n": 1}'

    response = htmx_client.post(
        reverse("contacts:metadata_set", args=[alice.pk]), {"key": "notes", "value": typed}
    )

    body = response.content.decode()
    assert "Metadata is limited to" in body
    assert 'id="meta-key"' in body and 'value="notes"' in body
    assert f'value="{html.escape(typed)}"' in body
    # After a save that goes through, the form is empty again for the next key.
    ok = htmx_client.post(
        reverse("contacts:metadata_set", args=[alice.pk]), {"key": "n", "value": "1"}
    )
    assert 'value="n"' not in ok.content.decode()


def test_metadata_values_json_cannot_store_are_text_not_a_wrong_error(htmx_client, alice):
    url = reverse("contacts:metadata_set", args=[alice.pk])

    for key, value in [("ratio", "NaN"), ("big", "1e400"), ("nested", '{"k": Infinity}')]:
        response = htmx_client.post(url, {"key": key, "value": value})
        assert "field-error" not in response.content.decode(), value

    alice.refresh_from_db()
    assert alice.metadata == {"ratio": "NaN", "big": "1e400", "nested": '{"k": Infinity}'}


@pytest.mark.parametrize("query", ["tag=99999999999999999999", "list=-99999999999999999999"])
def test_a_tag_or_list_id_past_any_id_lists_nobody_not_a_500(staff_client, alice, query):
    response = staff_client.get(reverse("contacts:list") + "?" + query)

    assert response.status_code == 200
    assert alice.email not in response.content.decode()


def test_a_metadata_value_nested_too_deep_to_read_as_json_is_text_not_a_500(htmx_client, alice):
    value = "[" * 1000 + "]" * 1000  # within the form's 2,000 characters

    response = htmx_client.post(
        reverse("contacts:metadata_set", args=[alice.pk]), {"key": "deep", "value": value}
    )

    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.metadata == {"deep": value}


def test_a_metadata_value_with_a_nul_or_a_lone_surrogate_is_refused_and_the_page_still_works(
    htmx_client, staff_client, alice
):
    url = reverse("contacts:metadata_set", args=[alice.pk])

    nul = htmx_client.post(url, {"key": "note", "value": '"a\\u0000b"'})
    surrogate = htmx_client.post(url, {"key": "note", "value": '"\\ud800"'})

    assert "Metadata cannot hold NUL characters." in nul.content.decode()
    assert "Metadata cannot hold unpaired UTF-16 surrogates." in surrogate.content.decode()
    alice.refresh_from_db()
    assert alice.metadata == {}
    assert staff_client.get(reverse("contacts:detail", args=[alice.pk])).status_code == 200
    assert staff_client.get(reverse("contacts:history", args=[alice.pk])).status_code == 200


def test_a_section_save_tells_the_page_which_version_its_other_open_forms_can_move_to(
    htmx_client, alice
):
    known = alice.version

    response = htmx_client.post(
        reverse("contacts:metadata_set", args=[alice.pk]), {"key": "plan", "value": "pro"}
    )

    assert _triggers(response)["contact-changed"] == {"previous": known, "version": known + 1}


# --- history ----------------------------------------------------------------------------------


def test_the_history_partial_shows_interactions_and_the_audit_trail(
    htmx_client, alice, staff_actor
):
    contact_service.update_contact(actor=staff_actor, contact=alice, first_name="Ally")
    contact_service.update_contact(
        actor=staff_actor, contact=alice, metadata={"seats": 3, "plan": {"tier": "pro"}}
    )
    contact_service.update_contact(actor=staff_actor, contact=alice, metadata={"seats": 4})

    response = htmx_client.get(reverse("contacts:history", args=[alice.pk]))

    body = " ".join(response.content.decode().split())
    assert response.status_code == 200
    assert "<html" not in body
    assert "Interaction history" in body and "Audit history" in body
    assert "Changed first_name" in body and "Tagged customer" in body
    assert f"<strong>{staff_actor.label}</strong>" in body
    assert "updated" in body and "just now" in body
    assert "first name:</span> <del>Alice</del> → <ins>Ally</ins>" in body
    # A metadata change lists the keys that changed, not two copies of the whole object.
    assert "metadata.seats:</span> <del>3</del> → <ins>4</ins>" in body
    assert "metadata.plan:</span> <ins>{&quot;tier&quot;: &quot;pro&quot;}</ins>" in body
    assert body.count("metadata.plan") == 1


def test_older_history_is_a_click_away_instead_of_cut_off_without_a_word(
    htmx_client, alice, staff_actor
):
    for n in range(55):
        record_event(actor=staff_actor, contact=alice, name=f"visit_{n:02d}")
    url = reverse("contacts:history", args=[alice.pk])

    first = " ".join(htmx_client.get(url).content.decode().split())
    older = " ".join(htmx_client.get(url, {"limit": 100}).content.decode().split())

    assert "visit_54" in first and "visit_04" not in first
    assert "Show older entries" in first and f'{url}?limit=100"' in first
    assert "visit_04" in older and "Contact created" in older
    assert "Show older entries" not in older


def test_a_form_missing_its_hidden_version_says_to_reload_instead_of_doing_nothing(
    htmx_client, alice
):
    data = _edit_form(alice, first_name="Alicia")
    del data["version"]
    response = htmx_client.post(reverse("contacts:edit", args=[alice.pk]), data)

    assert "This page is out of date" in response.content.decode()
    assert 'value="Alicia"' in response.content.decode(), "what was typed is kept"
    alice.refresh_from_db()
    assert alice.first_name == "Alice"


# --- a contact gone while its page is open ---------------------------------------------------


def test_a_click_on_an_erased_contacts_page_says_it_is_gone_instead_of_doing_nothing(
    htmx_client, alice, system_actor
):
    erase_contact(actor=system_actor, contact=alice)

    for response in (
        htmx_client.get(reverse("contacts:edit", args=[alice.pk])),
        htmx_client.post(reverse("contacts:tag_add", args=[alice.pk]), {"name": "VIP"}),
        htmx_client.get(reverse("contacts:history", args=[alice.pk])),
    ):
        assert response.status_code == 404
        toast = _triggers(response)["toast"]
        assert "no longer exists" in toast["message"] and toast["level"] == "error"
    assert not Tag.objects.filter(name="VIP").exists()


def test_a_merged_contacts_page_opens_the_contact_it_was_merged_into(
    staff_client, htmx_client, alice, make_contact, system_actor
):
    survivor = make_contact(email="alice.smith@example.com", first_name="Alice")
    merge_contacts(actor=system_actor, survivor=survivor, duplicate=alice)
    survivor_url = reverse("contacts:detail", args=[survivor.pk])

    page = staff_client.get(reverse("contacts:detail", args=[alice.pk]), follow=True)
    click = htmx_client.post(reverse("contacts:tag_add", args=[alice.pk]), {"name": "VIP"})

    assert page.redirect_chain == [(survivor_url, 302)]
    assert "merged into another" in page.content.decode()
    assert click.headers["HX-Redirect"] == survivor_url
    assert not Tag.objects.filter(name="VIP").exists()


def test_an_unknown_contacts_page_is_still_a_404(staff_client):
    response = staff_client.get(reverse("contacts:detail", args=[uuid.uuid4()]))

    assert response.status_code == 404


def test_history_at_its_longest_says_older_entries_are_not_shown(
    htmx_client, alice, staff_actor, monkeypatch
):
    monkeypatch.setattr(contact_views, "HISTORY_MAX", 60)
    for n in range(65):
        record_event(actor=staff_actor, contact=alice, name=f"visit_{n:02d}")
    url = reverse("contacts:history", args=[alice.pk])

    longest = " ".join(htmx_client.get(url, {"limit": 60}).content.decode().split())

    assert "visit_64" in longest and "visit_04" not in longest
    assert "Show older entries" not in longest
    assert "Showing the latest 60 of each; older entries are not shown here." in longest
