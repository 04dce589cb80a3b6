"""The Switchboard MCP server: the agent tools over stdio or streamable HTTP.

Built on the SDK's low-level ``Server`` because the tool list depends on who is asking: each
agent sees the tools its scopes allow. Tool calls run the same code as the JSON API (and so the
same pipeline); a business error comes back as a tool error whose text is the message.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import mcp_types as types
from asgiref.sync import sync_to_async
from mcp import MCPError
from mcp.server import Server, ServerRequestContext

from dashboard.agents.models import Agent
from dashboard.agents.services import active_prompt
from dashboard.mcp import tools

AgentResolver = Callable[[ServerRequestContext[Any]], Awaitable[Agent]]

# The calling agent's active system prompt, for the ``initialize`` answer of the request being
# served: over HTTP one server answers every agent, so it cannot be fixed when it is built.
calling_agent_instructions: ContextVar[str | None] = ContextVar(
    "calling_agent_instructions", default=None
)


class _Server(Server):
    """Answers ``initialize`` (and ``server/discover``) with the calling agent's prompt."""

    @property  # type: ignore[override]
    def instructions(self) -> str | None:
        return calling_agent_instructions.get() or self._instructions

    @instructions.setter
    def instructions(self, value: str | None) -> None:
        self._instructions = value


class AgentGone(Exception):
    """The agent was switched off or its token ended while the client was connected."""

    def __init__(self, message: str, code: str = "agent_switched_off"):
        super().__init__(message)
        self.code, self.message = code, message


def _result(outcome: tools.Outcome) -> types.CallToolResult:
    if outcome.ok:
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(outcome.body, default=str))],
            structured_content=outcome.body,
        )
    code, message = outcome.body.get("code", "error"), outcome.body.get("message", "")
    return types.CallToolResult(
        content=[types.TextContent(text=f"{message} ({code})")],
        structured_content=outcome.body,
        is_error=True,
    )


def build_server(resolve_agent: AgentResolver, *, instructions: str | None = None) -> Server:
    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        try:
            agent = await resolve_agent(ctx)
        except AgentGone as exc:
            # Left to the SDK it would answer "Internal server error", which says nothing.
            raise MCPError(types.INVALID_REQUEST, f"{exc.message} ({exc.code})") from None
        return types.ListToolsResult(
            tools=[
                types.Tool(name=t.name, description=t.description, input_schema=t.input_schema())
                for t in tools.tools_for(agent)
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            agent = await resolve_agent(ctx)
        except AgentGone as exc:
            # A tool error the model reads, not the SDK's bare "Internal server error".
            return _result(tools.Outcome(401, {"code": exc.code, "message": exc.message}))
        outcome = await sync_to_async(tools.call)(agent, params.name, params.arguments or {})
        return _result(outcome)

    return _Server(
        "switchboard",
        version="1",
        instructions=instructions
        or "Switchboard keeps contacts and sends SMS. Tools act as your agent identity.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def instructions_for(agent: Agent) -> str | None:
    prompt = active_prompt(agent)
    return prompt.text if prompt else None
