"""Serve the MCP tools over stdio as one agent: ``manage.py mcp_server --agent NAME``.

For MCP clients that launch servers as subprocesses (Claude Desktop, IDEs). Whoever can run
this command can read the database anyway, so the agent is named rather than authenticated;
it must exist and be active, and is re-read on every call so revoking it takes effect at once.
"""

from __future__ import annotations

from typing import Any

import anyio
from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand, CommandError
from mcp.server.stdio import stdio_server

from dashboard.agents.models import Agent
from dashboard.mcp.server import AgentGone, build_server, instructions_for


class Command(BaseCommand):
    help = "Run the Switchboard MCP server over stdio, acting as the named agent."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--agent", required=True, help="The agent's name.")

    def handle(self, *args: Any, agent: str, **options: Any) -> None:
        found = Agent.objects.filter(name__iexact=agent, is_active=True).first()
        if found is None:
            raise CommandError(f"No active agent named “{agent}”.")
        agent_id = found.pk

        def current() -> Agent:
            row = Agent.objects.filter(pk=agent_id, is_active=True).first()
            if row is None:
                raise AgentGone(
                    "This agent was switched off in Switchboard, so it can do nothing more; "
                    "ask a Switchboard admin which agent to use instead."
                )
            return row

        async def resolve(ctx: Any) -> Agent:
            return await sync_to_async(current)()

        server = build_server(resolve, instructions=instructions_for(found))

        async def serve() -> None:
            async with stdio_server() as (read_stream, write_stream):
                await server.run(read_stream, write_stream, server.create_initialization_options())

        anyio.run(serve)
