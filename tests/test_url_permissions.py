"""Every dashboard URL refuses anonymous users and logged-in people outside the staff group."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Views that must answer without a staff session. Each entry says why.
PUBLIC = {
    "login",  # where anonymous users are sent
    "logout",
    "sms:status_callback", "sms:inbound",  # SMS providers call these; they check the provider's signature
    "healthz",  # load balancers and monitors; reveals no personal data
    "embed",  # signed, expiring, revocable report embeds; aggregates only
}  # fmt: skip
# Whole URL prefixes that authenticate their own way.
PUBLIC_PREFIXES = (
    "api/v1/",  # the agent API: bearer-token auth (401 without a token), plus its public docs
)
SAMPLE = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "slug": "x", "path": "x"}


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield namespace + (entry.name or ""), prefix + str(entry.pattern), entry


def _concrete(route: str) -> str | None:
    """Fill <converter:name> parts with sample values; None for regex routes we cannot fill."""
    import re

    if route.startswith("^") or "(?P" in route:
        return None
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE.get(m.group(1) or "str", "x"), route)


def dashboard_urls():
    for name, route, _ in _walk(get_resolver()):
        if route.startswith(("django-admin/", *PUBLIC_PREFIXES)) or name in PUBLIC:
            continue
        url = _concrete(route)
        if url:
            yield pytest.param(url, id=name or url)


@pytest.mark.django_db
@pytest.mark.parametrize("url", list(dashboard_urls()))
def test_anonymous_users_are_sent_to_log_in(client, url):
    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code == 302, url
        assert response.url.startswith("/accounts/login/"), url


@pytest.mark.django_db
@pytest.mark.parametrize("url", list(dashboard_urls()))
def test_logged_in_outsiders_are_refused(outsider_client, url):
    assert outsider_client.get(url).status_code == 403
    assert outsider_client.post(url).status_code == 403


@pytest.mark.django_db
def test_someone_outside_the_team_can_log_out(outsider_client):
    # Their 403 page offers "Log out": it must work, to log in as someone else.
    response = outsider_client.post("/accounts/logout/")
    assert response.status_code == 302 and response.url == "/accounts/login/"
    assert outsider_client.get("/contacts/").status_code == 302


def test_the_walk_finds_the_dashboard():
    urls = [p.values[0] for p in dashboard_urls()]
    assert "/contacts/" in urls and len(urls) > 20


@pytest.mark.django_db
def test_a_partial_asked_for_after_the_session_ended_sends_the_whole_page_to_log_in(client):
    # htmx followed the redirect and swapped the login page into the table it was refreshing.
    headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/contacts/?q=ann"}
    for method in (client.get, client.post):
        response = method("/contacts/?q=ann&page=2", headers=headers)
        assert response.status_code == 200
        assert response["HX-Redirect"] == "/accounts/login/?next=/contacts/%3Fq%3Dann"
        assert response.content == b""


@pytest.mark.django_db
def test_a_page_on_another_site_is_not_where_the_login_leads_back_to(client):
    headers = {"HX-Request": "true", "HX-Current-URL": "https://evil.example/phish"}
    response = client.get("/approvals/poll/", headers=headers)
    assert response["HX-Redirect"] == "/accounts/login/"


@pytest.mark.django_db
def test_there_is_no_password_reset_that_mails_nothing(client, staff_user, mailoutbox):
    # It answered "We've emailed you instructions" with no mail server set up to send them.
    response = client.post("/accounts/password_reset/", {"email": staff_user.email})
    assert response.status_code == 404
    assert mailoutbox == []


@pytest.mark.django_db
def test_a_poll_after_the_session_ended_reloads_the_page_to_the_login_form(client):
    # Left to follow the 302, htmx would swap the whole login page into the polled fragment,
    # and logging in there would land on the fragment's URL.
    page = "http://testserver/imports/7/"
    response = client.get("/imports/7/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=page)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/imports/7/"
    saved = client.post(
        "/approvals/poll/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://elsewhere/x"
    )
    assert saved["HX-Redirect"] == "/accounts/login/"  # never back to another site
