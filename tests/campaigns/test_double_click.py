"""A double click on Send (or on "send again") whose two requests overlap: the second finds
no campaign when it starts, screens the audience meanwhile the first commits, and must then
answer the first campaign instead of failing on the key."""

from __future__ import annotations

import pytest

from sms.campaigns.models import Campaign
from sms.campaigns.services import campaigns as service

from .conftest import SYSTEM

pytestmark = pytest.mark.django_db


def test_a_click_that_lands_while_the_first_is_screening_gets_the_first_campaign(
    audience, monkeypatch
):
    real_screen = service.screen
    first = {}

    def screen_while_the_other_click_commits(**kwargs):
        result = real_screen(**kwargs)
        if not first:
            first["outcome"] = None  # the other click runs once, from inside this one
            first["outcome"] = service.start_campaign(
                actor=SYSTEM, text="Hi", audience_kind="tag", audience_id=audience["tag"].pk,
                idempotency_key="form-123",
            )  # fmt: skip
        return result

    monkeypatch.setattr(service, "screen", screen_while_the_other_click_commits)

    second = service.start_campaign(
        actor=SYSTEM, text="Hi", audience_kind="tag", audience_id=audience["tag"].pk,
        idempotency_key="form-123",
    )  # fmt: skip

    assert second.replayed
    assert second.campaign.pk == first["outcome"].campaign.pk
    assert Campaign.objects.count() == 1
