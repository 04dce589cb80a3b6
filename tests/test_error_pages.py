"""What people see when a page is missing, refused or broken: a page of Switchboard's that
says what happened and leads back, never the server's bare one-liner."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error

from contacts.models import Tag

pytestmark = pytest.mark.django_db


def test_an_unknown_address_says_so_and_keeps_the_navigation(staff_client):
    response = staff_client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "<title>Not found · Switchboard</title>" in page
    assert "There is no page at <code>/no-such-page/</code>" in page
    assert 'aria-label="Sections"' in page and "Back to the overview" in page


def test_a_missing_record_shows_the_views_own_reason(staff_client):
    response = staff_client.get("/lists/424242/")
    assert response.status_code == 404
    assert "No such list." in response.content.decode()


def test_a_staff_member_refused_an_admin_action_is_told_why(staff_client):
    response = staff_client.get("/agents/new/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Only admins can do this." in page
    assert "<title>Not allowed · Switchboard</title>" in page
    # Refused one page, staff keep the navigation to the others, and can log out.
    assert "Approvals" in page and 'action="/accounts/logout/"' in page


def test_someone_outside_the_team_is_told_why_and_can_log_out(outsider_client):
    response = outsider_client.get("/contacts/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Switchboard is for the operations team (staff group)." in page
    assert "logged in as olly" in page and 'action="/accounts/logout/"' in page
    # No way into the sections they cannot open, nor a count of what waits for approval.
    assert 'href="/contacts/"' not in page and "badge" not in page and "Approvals" not in page


def test_a_form_sent_with_an_expired_token_says_nothing_was_saved(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    client.get("/tags/")
    response = client.post("/tags/new/", {"name": "VIP", "csrfmiddlewaretoken": "stale" * 8})
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form had expired" in page and "Nothing was saved." in page
    assert not Tag.objects.exists()


def test_an_address_the_site_does_not_answer_for_says_where_that_is_set(client):
    response = client.get("/", HTTP_HOST="192.0.2.10:8000")
    assert response.status_code == 400
    assert "ALLOWED_HOSTS" in response.content.decode()


def test_a_server_error_page_needs_no_request_context():
    response = server_error(RequestFactory().get("/contacts/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
