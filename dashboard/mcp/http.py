"""``/mcp``: the MCP server over streamable HTTP, for agents holding an API bearer token.

Stateless and answering in JSON: every request stands alone, so any gunicorn worker can serve
any request (no session lives in one process's memory).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core import signals
from django.db import connections
from mcp.server import ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

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
        raise AgentGone(
            "The bearer token is missing, expired or revoked; get a new one at "
            "POST /api/v1/token and reconnect with it.",
            code="invalid_token",
        )
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

    return _minding_connections(mcp_app)


def _minding_connections(app: ASGIApp) -> ASGIApp:
    """Do for the ORM's connection what Django's own handler does, which /mcp bypasses.

    Every ``sync_to_async`` call here runs in asgiref's one process-wide thread, so its
    persistent connection serves all MCP requests and outlives the server.
    """

    async def minding(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await app(scope, receive, _closing_connections_at_shutdown(send))
        elif scope["type"] == "http":
            # Their receiver (close_old_connections) enforces CONN_MAX_AGE and replaces a
            # broken connection; without it that connection would be reused forever.
            await signals.request_started.asend(sender=minding, scope=scope)
            try:
                await app(scope, receive, send)
            finally:
                await signals.request_finished.asend(sender=minding)
        else:
            await app(scope, receive, send)

    return minding


def _closing_connections_at_shutdown(send: Send) -> Send:
    async def closing(message: Any) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            # Closed in the thread that opened them; left open, the connection would hold a
            # session on the database after the server stopped.
            await sync_to_async(connections.close_all)()
        await send(message)

    return closing
