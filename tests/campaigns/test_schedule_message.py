"""What staff are told on scheduling a campaign: the moment in the campaign's own zone, and
when the time typed is skipped or repeated there by a change of the clocks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from .test_campaign_views import form

pytestmark = pytest.mark.django_db


def last_sunday(month: int) -> dt.date:
    year = timezone.now().year + 1
    end = dt.date(year, month, 31)
    return end - dt.timedelta(days=(end.weekday() + 1) % 7)


def schedule(client, audience, when: str, time_zone: str = "Europe/London") -> str:
    response = client.post(
        reverse("campaigns:new"),
        form(audience, schedule_mode="at", send_at=when, time_zone=time_zone),
        follow=True,
    )
    return " ".join(str(m) for m in get_messages(response.wsgi_request)) or response.text


def test_it_says_when_the_campaign_goes_in_the_campaigns_own_zone(staff_client, audience, settings):
    settings.TIME_ZONE = "UTC"
    day = timezone.now().date() + dt.timedelta(days=3)
    told = schedule(staff_client, audience, f"{day:%Y-%m-%d}T09:00", "America/New_York")
    assert f"Scheduled for {day:%d %b %Y} 09:00 E" in told
    assert "(America/New_York)" in told


@pytest.fixture
def far_ahead(settings):
    settings.CAMPAIGN_MAX_SCHEDULE_DAYS = 730  # next year's changes of the clocks are months away


def test_a_time_the_clocks_skip_is_named_with_when_it_really_goes(
    staff_client, audience, far_ahead
):
    spring = last_sunday(3)  # 01:00 -> 02:00 in London
    told = schedule(staff_client, audience, f"{spring:%Y-%m-%d}T01:30")
    assert f"01:30 does not exist in Europe/London on {spring:%d %b %Y}" in told
    assert f"Scheduled for {spring:%d %b %Y} 02:30 BST" in told


def test_a_time_the_clocks_repeat_says_it_goes_the_first_time(staff_client, audience, far_ahead):
    autumn = last_sunday(10)  # 02:00 -> 01:00 in London
    told = schedule(staff_client, audience, f"{autumn:%Y-%m-%d}T01:30")
    assert "happens twice in Europe/London" in told
    assert f"Scheduled for {autumn:%d %b %Y} 01:30 BST" in told


def test_the_estimate_stays_while_the_time_zone_is_being_typed(htmx_client, audience):
    response = htmx_client.post(
        reverse("campaigns:estimate"), form(audience, time_zone="", quiet_hours="21:")
    )

    assert response.status_code == 200
    assert 'data-testid="recipients"><strong>4</strong>' in response.text
