"""Signed report embeds: who can frame them, and that they stop working when they should."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from dashboard.actors import Actor
from dashboard.models import AuditEntry
from dashboard.reports import embeds
from dashboard.reports.models import EmbedLink
from sms.models import Message

pytestmark = pytest.mark.django_db
ALLOWED = "https://wiki.example.com"


@pytest.fixture(autouse=True)
def allowed_origin(settings):
    settings.EMBED_FRAME_ANCESTORS = [ALLOWED]


@pytest.fixture
def link(staff_client, staff_user) -> EmbedLink:
    response = staff_client.post(
        "/reports/sms/embed/",
        {"label": "Ops wiki", "days": 30, "grouping": "day", "valid_days": 30},
    )
    assert response.status_code == 302
    return EmbedLink.objects.get()


def _url(link: EmbedLink) -> str:
    return f"/embed/{embeds.token_for(link)}/"


def _directives(response) -> dict[str, str]:
    csp = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())


def test_a_signed_link_shows_the_report_to_anyone_and_only_allowed_origins_may_frame_it(
    client, link
):
    response = client.get(_url(link))
    assert response.status_code == 200
    assert "<svg" in response.content.decode()
    assert _directives(response)["frame-ancestors"] == ALLOWED
    assert "X-Frame-Options" not in response.headers
    assert AuditEntry.objects.filter(action="embed.create").exists()


def test_every_other_page_refuses_to_be_framed(staff_client):
    response = staff_client.get("/reports/sms/")
    assert _directives(response)["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_with_no_origin_configured_nobody_may_frame_an_embed(client, link, settings):
    settings.EMBED_FRAME_ANCESTORS = []
    assert _directives(client.get(_url(link)))["frame-ancestors"] == "'none'"


def test_the_embed_shows_no_personal_data(client, link):
    Message.objects.create(
        idempotency_key="k1", to="+447700900123", country="GB", text="Hello Alice", kind="transactional",
        encoding="GSM-7", segments=1, price=1, status="delivered", gateway="sandbox", actor_kind="staff",
        actor_label="sam.smith",
    )  # fmt: skip
    page = client.get(_url(link)).content.decode()
    assert "Staff" in page
    for personal in ("sam.smith", "+447700900123", "Alice"):
        assert personal not in page


def test_the_imports_embed_shows_no_file_names(client):
    from contacts.imports.models import ImportJob

    job = ImportJob.objects.create(
        file_name="jane.doe@example.com leads.csv", file_path="x", encoding="utf-8", delimiter=",",
        status="finished", imported=3, actor_kind="staff", actor_label="sam.smith",
    )  # fmt: skip
    link = embeds.create_embed_link(
        actor=Actor.system("tests"), report="imports", label="Wiki", days=30, grouping="day",
        valid_days=30,
    )  # fmt: skip
    page = client.get(_url(link)).content.decode()
    assert f"#{job.pk}" in page
    for personal in ("jane.doe", "leads.csv", "sam.smith"):
        assert personal not in page


def test_a_tampered_token_is_refused(client, link):
    token = embeds.token_for(link)
    response = client.get(f"/embed/{token[:-2]}xx/")
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_a_revoked_link_stops_working_at_once(client, staff_client, link):
    assert staff_client.post(f"/reports/embeds/{link.pk}/revoke/").status_code == 302
    response = client.get(_url(link))
    assert response.status_code == 410
    assert "revoked" in response.content.decode()
    again = staff_client.post(f"/reports/embeds/{link.pk}/revoke/", follow=True)
    assert "already revoked" in again.content.decode()


def test_an_expired_link_stops_working(client, link):
    EmbedLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(_url(link))
    assert response.status_code == 410
    assert "expired" in response.content.decode()


def test_staff_see_and_manage_their_links(staff_client, link):
    page = staff_client.get("/reports/embeds/").content.decode()
    assert "Ops wiki" in page and ALLOWED in page
    # The token carries its signing time, so compare what it names, not its text.
    token = re.search(r'value="[^"]*/embed/([^/"]+)/"', page).group(1)
    assert embeds.resolve(token) == link


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"label": "", "days": 30, "grouping": "day", "valid_days": 30}, "This field is required."),
        ({"label": "x", "days": 12, "grouping": "day", "valid_days": 30}, "Select a valid choice."),
        (
            {"label": "x", "days": 30, "grouping": "day", "valid_days": 999},
            "less than or equal to 366",
        ),
    ],
)
def test_bad_embed_requests_are_explained(staff_client, data, message):
    response = staff_client.post("/reports/sms/embed/", data, follow=True)
    assert message in response.content.decode()
    assert not EmbedLink.objects.exists()
