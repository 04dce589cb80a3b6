"""``/mcp``: the MCP server over streamable HTTP, for agents holding an API bearer token.

Stateless and answering in JSON: every request stands alone, so any gunicorn worker can serve
any request (no session lives in one process's memory).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from mcp.server import ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from dashboard.agents.models import Agent
from dashboard.agents.services import authenticate
from dashboard.mcp.server import AgentGone, build_server


def _bearer(headers: Any) -> str:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def _agent_for(ctx: ServerRequestContext[Any]) -> Agent:
    request = ctx.request
    agent = await sync_to_async(authenticate)(_bearer(request.headers)) if request else None
    if agent is None:
        raise AgentGone("The bearer token is missing, expired or revoked.")
    return agent


def build_mcp_app() -> Any:
    """A fresh ASGI app for ``/mcp`` (its session manager runs once, in one lifespan)."""
    server = build_server(_agent_for)
    # DNS-rebinding protection guards unauthenticated local servers; every call here needs a
    # token.
    inner = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )

    async def mcp_app(scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse requests without a live token before they reach the MCP machinery."""
        if scope["type"] == "http":
            token = _bearer(Request(scope).headers)
            if await sync_to_async(authenticate)(token) is None:
                response = JSONResponse(
                    {
                        "code": "invalid_token",
                        "message": "Missing, expired or revoked bearer token; "
                        "get one at POST /api/v1/token.",
                    },
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await inner(scope, receive, send)

    return mcp_app
