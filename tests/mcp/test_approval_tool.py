"""A gated agent told pending_approval follows its request up with a tool, as over the API."""

from __future__ import annotations

import pytest

from dashboard.agents.pipeline import approve
from dashboard.mcp import tools
from tests.sms.conftest import MOBILE, _sandbox, funded, priced  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("funded")]


def test_a_gated_agent_learns_with_a_tool_what_came_of_a_text_waiting_for_approval(
    gated_agent, staff_user
):
    asked = tools.call(gated_agent, "send_sms", {"to": MOBILE, "message": "Your parcel is here"})
    assert asked.status == 202 and asked.body["status"] == "pending_approval"
    approval_id = asked.body["approval_id"]

    waiting = tools.call(gated_agent, "approval_status", {"approval_id": approval_id})
    assert waiting.status == 200 and waiting.body["status"] == "pending"

    approve(request_id=approval_id, user=staff_user)
    done = tools.call(gated_agent, "approval_status", {"approval_id": approval_id})
    assert done.body["status"] == "executed"
    sent = tools.call(gated_agent, "sms_status", {"message_id": done.body["result"]["id"]})
    assert sent.status == 200 and sent.body["to"] == MOBILE


def test_every_agent_has_the_tool_and_sees_only_its_own_requests(gated_agent, make_agent):
    asked = tools.call(gated_agent, "send_sms", {"to": MOBILE, "message": "Hi"})
    reader = make_agent("reader", scopes=["contacts:read"])
    assert "approval_status" in {tool.name for tool in tools.tools_for(reader)}

    other = tools.call(reader, "approval_status", {"approval_id": asked.body["approval_id"]})

    assert other.status == 404 and other.body["code"] == "unknown_approval"
