"""The list pages: index with member counts, create, edit, delete."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from contacts.models import ContactList
from contacts.services import lists as list_service
from contacts.services.segments import create_segment
from dashboard.actors import Actor
from dashboard.models import AuditEntry
from tests.contacts.helpers import queries_to_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def vip(staff_actor, make_contact):
    contact_list = list_service.create_list(actor=staff_actor, name="VIP", limit=5)
    for _ in range(3):
        list_service.add_to_list(
            actor=staff_actor, contact=make_contact(), contact_list=contact_list
        )
    return contact_list


def test_the_index_shows_each_list_with_its_member_count(staff_client, vip, staff_actor):
    list_service.create_list(actor=staff_actor, name="Empty")

    response = staff_client.get(reverse("contacts:lists"))

    rows = {row.name: row.members for row in response.context["lists"]}
    assert rows == {"VIP": 3, "Empty": 0}
    assert f"?list={vip.pk}" in response.content.decode()


def test_the_index_counts_members_in_one_query(staff_client, vip, staff_actor):
    before = queries_to_get(staff_client, reverse("contacts:lists"))
    for n in range(5):
        list_service.create_list(actor=staff_actor, name=f"List {n}")

    assert queries_to_get(staff_client, reverse("contacts:lists")) == before


def test_staff_create_a_list(staff_client, staff_user):
    response = staff_client.post(
        reverse("contacts:list_create"), {"name": "Beta", "description": "", "limit": "50"}
    )

    assert response.status_code == 302
    created = ContactList.objects.get()
    assert (created.name, created.limit) == ("Beta", 50)
    assert AuditEntry.objects.get(action="list.create").actor_user == staff_user


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "Beta", "limit": "0"}, "greater than or equal to 1"),
        ({"name": "Beta", "limit": "lots"}, "Enter a whole number."),
        # Beyond PostgreSQL's integer column: refused, not a 500.
        ({"name": "Beta", "limit": "99999999999999"}, "A list limit is a number from 1 to"),
    ],
)
def test_a_bad_new_list_is_shown_again_with_the_error(staff_client, vip, data, message):
    response = staff_client.post(reverse("contacts:list_create"), data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert ContactList.objects.count() == 1


def test_staff_rename_a_list_and_change_its_limit(staff_client, vip):
    page = staff_client.get(reverse("contacts:list_edit", args=[vip.pk]))
    assert "3 contacts" in page.content.decode()

    response = staff_client.post(
        reverse("contacts:list_edit", args=[vip.pk]), {"name": "VIPs", "limit": ""}
    )

    assert response.status_code == 302
    vip.refresh_from_db()
    assert (vip.name, vip.limit) == ("VIPs", None)


def test_a_limit_below_the_members_is_refused_next_to_the_limit(staff_client, vip):
    response = staff_client.post(
        reverse("contacts:list_edit", args=[vip.pk]), {"name": "VIP", "limit": "2"}
    )

    assert response.status_code == 200
    assert "already has 3 contacts; the limit cannot be lower" in response.content.decode()
    assert response.context["form"].errors["limit"]
    vip.refresh_from_db()
    assert vip.limit == 5


def test_deleting_a_list_keeps_its_contacts(staff_client, vip):
    response = staff_client.post(reverse("contacts:list_delete", args=[vip.pk]), follow=True)

    assert "Deleted list VIP. Its contacts were kept." in response.content.decode()
    assert not ContactList.objects.exists()


def test_an_unknown_list_is_a_404(staff_client):
    assert staff_client.get(reverse("contacts:list_edit", args=[999])).status_code == 404
    assert staff_client.post(reverse("contacts:list_delete", args=[999])).status_code == 404


def test_the_list_page_names_the_segments_that_deleting_it_would_break(
    staff_client, staff_actor, vip
):
    rules = {"all": [{"field": "list", "op": "not_in", "value": vip.pk}]}
    create_segment(actor=staff_actor, name="Not VIP", rules=rules)

    body = staff_client.get(reverse("contacts:list_edit", args=[vip.pk])).content.decode()

    assert "Used by 1 segment:" in body and ">Not VIP</a>" in body
    assert "1 segment using it will stop working" in body


def _loaded(page) -> dict:
    """What the edit page's form would post back unchanged (its hidden inputs included)."""
    form = page.context["form"]
    return {name: form[name].value() or "" for name in form.fields}


def test_saving_a_list_a_colleague_renamed_meanwhile_is_refused_not_undone(
    staff_client, vip, admin_user
):
    page = staff_client.get(reverse("contacts:list_edit", args=[vip.pk]))
    list_service.update_list(actor=Actor.staff(admin_user), contact_list=vip, name="Gold", limit=5)

    response = staff_client.post(
        reverse("contacts:list_edit", args=[vip.pk]), {**_loaded(page), "limit": "10"}
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "This list was changed by ada while you were editing" in body
    assert 'value="10"' in body  # what was typed stays in the form
    vip.refresh_from_db()
    assert (vip.name, vip.limit) == ("Gold", 5)
    # Seen now: saving again replaces the colleague's values on purpose.
    again = staff_client.post(
        reverse("contacts:list_edit", args=[vip.pk]), _loaded(response) | {"limit": "10"}
    )
    assert again.status_code == 302
    vip.refresh_from_db()
    assert (vip.name, vip.limit) == ("VIP", 10)


def test_saving_a_list_twice_from_one_page_is_not_a_conflict_with_oneself(staff_client, vip):
    page = staff_client.get(reverse("contacts:list_edit", args=[vip.pk]))
    data = {**_loaded(page), "limit": "7"}

    assert staff_client.post(reverse("contacts:list_edit", args=[vip.pk]), data).status_code == 302
    vip.refresh_from_db()
    assert vip.limit == 7


def _hidden(page, name: str) -> str:
    """The value of a hidden input of the page, as the browser would post it back."""
    found = re.search(rf'type="hidden" name="{name}" value="([^"]*)"', page.content.decode())
    assert found, f"no hidden {name} on the page"
    return found.group(1)


def test_a_create_form_sent_twice_makes_one_list(staff_client, vip):
    page = staff_client.get(reverse("contacts:lists"))
    data = {"name": "Beta", "limit": "50", "after_list": _hidden(page, "after_list")}

    # A double click (or a resubmit) posts the same form twice.
    first = staff_client.post(reverse("contacts:list_create"), data)
    second = staff_client.post(reverse("contacts:list_create"), data, follow=True)

    assert first.status_code == 302 and second.status_code == 200
    assert ContactList.objects.filter(name="Beta").count() == 1
    assert AuditEntry.objects.filter(action="list.create", object_repr="Beta").count() == 1
    assert "Created list Beta." in second.content.decode()
    # Names may repeat: a second list of that name made on purpose, from a fresh form, is made.
    again = staff_client.get(reverse("contacts:lists"))
    data["after_list"] = _hidden(again, "after_list")
    staff_client.post(reverse("contacts:list_create"), data)
    assert ContactList.objects.filter(name="Beta").count() == 2


def test_a_double_clicked_save_is_not_a_conflict_with_its_own_first_click(staff_client, vip):
    page = staff_client.get(reverse("contacts:list_edit", args=[vip.pk]))
    data = {**_loaded(page), "name": "VIPs", "limit": "9"}

    first = staff_client.post(reverse("contacts:list_edit", args=[vip.pk]), data)
    second = staff_client.post(reverse("contacts:list_edit", args=[vip.pk]), data)

    assert (first.status_code, second.status_code) == (302, 302)
    vip.refresh_from_db()
    assert (vip.name, vip.limit) == ("VIPs", 9)


def test_deleting_a_list_a_colleague_deleted_meanwhile_says_so(staff_client, vip, admin_user):
    gone = vip.pk
    list_service.delete_list(actor=Actor.staff(admin_user), contact_list=vip)

    response = staff_client.post(reverse("contacts:list_delete", args=[gone]), follow=True)

    assert response.status_code == 200
    assert "The list VIP was already deleted by ada." in response.content.decode()


def test_saving_a_list_a_colleague_deleted_meanwhile_says_so(staff_client, vip, admin_user):
    gone = vip.pk
    list_service.delete_list(actor=Actor.staff(admin_user), contact_list=vip)

    response = staff_client.post(
        reverse("contacts:list_edit", args=[gone]), {"name": "VIP", "limit": "9"}, follow=True
    )

    assert response.status_code == 200
    assert "The list VIP was already deleted by ada." in response.content.decode()


def test_a_description_with_line_breaks_survives_saving_the_edit_page(staff_client, system_actor):
    # Set by an agent through the API: the edit page used to show it in a one-line input,
    # which drops line breaks, so saving a new limit ran the lines together.
    notes = list_service.create_list(
        actor=system_actor, name="Notes", description="Fair leads\nCall before May"
    )
    page = staff_client.get(reverse("contacts:list_edit", args=[notes.pk]))
    assert re.search(
        r"<textarea[^>]*name=\"description\"[^>]*>\s*Fair leads\nCall before May<",
        page.content.decode(),
    )

    # Browsers send a textarea's line breaks as CR LF.
    data = {**_loaded(page), "description": "Fair leads\r\nCall before May", "limit": "9"}
    assert (
        staff_client.post(reverse("contacts:list_edit", args=[notes.pk]), data).status_code == 302
    )
    notes.refresh_from_db()
    assert (notes.description, notes.limit) == ("Fair leads\nCall before May", 9)
    assert AuditEntry.objects.filter(action="list.update").get().changes == {"limit": [None, 9]}
