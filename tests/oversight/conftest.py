"""Oversight fixtures: agent personas, funded SMS credits, a contact, and gated requests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dashboard.agents.models import Agent, ApprovalRequest
from dashboard.agents.pipeline import perform
from tests.agents.personas import *  # noqa: F403  (agent personas)
from tests.sms.conftest import MOBILE, _sandbox, contact, funded, priced  # noqa: F401


@pytest.fixture
def ask_to_send(funded, contact) -> Callable[..., ApprovalRequest]:  # noqa: F811
    """A gated agent asks to text the contact; returns the approval request it waits in."""

    def ask(
        agent: Agent, text: str = "Your parcel arrives today.", reason: str = ""
    ) -> ApprovalRequest:
        outcome = perform(
            agent,
            "send_sms",
            {"contact_id": str(contact.pk), "message": text, "kind": "transactional"},
            reason=reason,
        )
        assert outcome.status == 202, outcome.body
        return ApprovalRequest.objects.get(pk=outcome.body["approval_id"])

    return ask
