"""Headers, cookies and login throttling that every page relies on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

pytestmark = pytest.mark.django_db


def test_pages_send_a_csp_without_inline_scripts_and_refuse_framing(staff_client):
    response = staff_client.get("/contacts/")
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_scripts(staff_client):
    page = staff_client.get("/contacts/").content.decode()
    # Every <script> loads a file from our origin.
    for chunk in page.split("<script")[1:]:
        tag = chunk.split(">", 1)[0]
        assert "src=" in tag, tag


def _settings_in_a_fresh_process(**env: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k, None) for k in "
        "['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS']}))"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env}
    out = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_secure_cookies_and_hsts_are_on_outside_debug():
    values = _settings_in_a_fresh_process(DEBUG="false", SECURE_COOKIES="true")
    assert values == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
    }


def test_failed_logins_are_throttled_per_username_and_address(client, staff_user):
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(
            "/accounts/login/", {"username": staff_user.username, "password": "wrong"}
        )
        assert response.status_code == 200  # the form again, with its error
    client.post("/accounts/login/", {"username": staff_user.username, "password": "wrong"})
    # Locked out now: even the right password is refused until the cool-off ends.
    response = client.post(
        "/accounts/login/", {"username": staff_user.username, "password": "correct horse battery"}
    )
    assert response.status_code == 429
    page = " ".join(response.content.decode().split())
    assert "Too many failed log-ins" in page
    # It said "a few minutes" and "ask an admin", though no page lets an admin unlock anyone.
    assert "paused for 15 minutes." in page
    assert "ask whoever runs Switchboard to unlock it sooner" in page


def test_a_correct_password_before_the_limit_logs_in(client, staff_user):
    client.post("/accounts/login/", {"username": staff_user.username, "password": "wrong"})
    response = client.post(
        "/accounts/login/", {"username": staff_user.username, "password": "correct horse battery"}
    )
    assert response.status_code == 302


@pytest.fixture
def strict_client(staff_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    client.get("/contacts/")  # sets the CSRF cookie, as the page would
    return client


def test_an_htmx_post_with_a_stale_token_says_so_in_a_toast(strict_client):
    # htmx shows nothing for a 403: the click (an approval, a tag) seemed to do nothing.
    response = strict_client.post(
        "/tags/new/", {"name": "VIP"}, headers={"HX-Request": "true", "X-CSRFToken": "stale" * 8}
    )
    assert response.status_code == 403
    toast = json.loads(response["HX-Trigger"])["toast"]
    assert toast["level"] == "error"
    assert toast["message"].startswith("This page is out of date")
    assert "Reload the page" in toast["message"]


def test_a_form_posted_with_a_stale_token_explains_what_to_do(strict_client):
    response = strict_client.post("/tags/new/", {"name": "VIP", "csrfmiddlewaretoken": "x" * 32})
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form had expired" in page and "reload the page" in page


LOGIN = "/accounts/login/"


def _attempt(client, username: str, password: str, *, via: str, client_ip: str, sent: str = ""):
    # As a load balancer at `via` forwards it: it appends the address it saw to what came in.
    forwarded = f"{sent}, {client_ip}" if sent else client_ip
    return client.post(
        LOGIN,
        {"username": username, "password": password},
        REMOTE_ADDR=via,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def test_behind_a_load_balancer_a_stranger_cannot_lock_a_colleague_out(
    client, staff_user, settings
):
    # Every request came from the balancer's address: five wrong passwords from anywhere
    # paused the account for everyone, though the page says "from here".
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        _attempt(client, staff_user.username, "wrong", via="10.0.0.2", client_ip="203.0.113.9")
    locked = _attempt(
        client,
        staff_user.username,
        "correct horse battery",
        via="10.0.0.2",
        client_ip="203.0.113.9",
    )
    assert locked.status_code == 429

    colleague = _attempt(
        client,
        staff_user.username,
        "correct horse battery",
        via="10.0.0.2",
        client_ip="198.51.100.7",
    )
    assert colleague.status_code == 302


def test_a_forged_forwarded_address_does_not_buy_more_attempts(client, staff_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(django_settings.AXES_FAILURE_LIMIT):
        _attempt(client, staff_user.username, "wrong", via="10.0.0.2",
                 client_ip="203.0.113.9", sent=f"192.0.2.{n}")  # fmt: skip
    response = _attempt(client, staff_user.username, "correct horse battery", via="10.0.0.2",
                        client_ip="203.0.113.9", sent="192.0.2.200")  # fmt: skip
    assert response.status_code == 429


def test_without_a_proxy_the_forwarded_header_is_not_believed(client, staff_user, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(django_settings.AXES_FAILURE_LIMIT):
        _attempt(client, staff_user.username, "wrong", via="203.0.113.9", client_ip=f"192.0.2.{n}")
    response = _attempt(
        client,
        staff_user.username,
        "correct horse battery",
        via="203.0.113.9",
        client_ip="192.0.2.99",
    )
    assert response.status_code == 429


def test_a_malformed_forwarded_address_falls_back_to_the_connection(client, staff_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    response = client.post(
        LOGIN,
        {"username": staff_user.username, "password": "wrong"},
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR="not-an-address",
    )
    assert response.status_code == 200
    from axes.models import AccessAttempt

    assert AccessAttempt.objects.get().ip_address == "203.0.113.9"
