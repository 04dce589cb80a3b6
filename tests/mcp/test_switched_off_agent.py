"""An MCP client whose agent is switched off mid-session is told so, not "Internal server
error": a tool call comes back as a tool error the model can read, a tool listing as an MCP
error with the same message."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from mcp import Client, MCPError

from dashboard.actors import Actor
from dashboard.agents.models import Agent
from dashboard.agents.services import revoke
from dashboard.mcp.server import AgentGone, build_server
from tests.mcp.test_mcp_server import run_async


def server_as(agent: Agent):
    """The server as ``manage.py mcp_server`` builds it: the agent is re-read on every call."""

    def current() -> Agent:
        row = Agent.objects.filter(pk=agent.pk, is_active=True).first()
        if row is None:
            raise AgentGone("This agent was switched off in Switchboard.")
        return row

    async def resolve(ctx):
        return await sync_to_async(current)()

    return build_server(resolve)


@pytest.mark.django_db(transaction=True)
def test_a_tool_call_after_the_agent_is_switched_off_is_a_tool_error_saying_so(make_agent):
    agent = make_agent("soon-off")

    async def session():
        async with Client(server_as(agent)) as client:
            before = await client.call_tool("list_segments", {})
            await sync_to_async(revoke)(actor=Actor.system("tests"), agent=agent)
            after = await client.call_tool("list_segments", {})
            try:
                await client.list_tools()
            except MCPError as exc:
                listing = exc.message
        # The look-ups ran in asgiref's shared thread, which outlives the test: close its
        # connection, or PostgreSQL's test database cannot be dropped at the end of the run.
        await sync_to_async(connections.close_all)()
        return before, after, listing

    before, after, listing = run_async(session())
    assert not before.is_error
    assert after.is_error
    assert after.structured_content["code"] == "agent_switched_off"
    assert "switched off" in after.content[0].text
    assert "switched off" in listing and "Internal server error" not in listing
