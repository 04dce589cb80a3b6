"""``/mcp``: the MCP server over streamable HTTP, for agents holding an API bearer token.

Stateless and answering in JSON: every request stands alone, so any gunicorn worker can serve
any request (no session lives in one process's memory).
"""

from __future__ import annotations

import json
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
from dashboard.mcp.server import (
    AgentGone,
    build_server,
    calling_agent_instructions,
    instructions_for,
)


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
            agent = await sync_to_async(authenticate)(token)
            if agent is None:
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
            receive = await _with_instructions_on_initialize(agent, receive)
        await inner(scope, receive, send)

    return _minding_connections(mcp_app)


# An initialize request is small; a larger body is read by the MCP machinery alone.
_INITIALIZE_MAX_BYTES = 64 * 1024
# How a client first meets the server: the 2025 protocols' handshake, the 2026 one's discovery.
HELLO = ("initialize", "server/discover")


async def _with_instructions_on_initialize(agent: Agent, receive: Receive) -> Receive:
    """For a first request (``HELLO``), hand the server the agent's active system prompt (as
    the stdio server and ``GET /api/v1/agent`` do); other requests do not pay for reading it.
    Answers a ``receive`` that replays the body read to find out."""
    messages: list[Any] = []
    size = 0
    while size <= _INITIALIZE_MAX_BYTES:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    if (b"initialize" in body or b"server/discover" in body) and _method(body) in HELLO:
        calling_agent_instructions.set(await sync_to_async(instructions_for)(agent))
    replay = iter(messages)

    async def replaying() -> Any:
        return next(replay, None) or await receive()

    return replaying


def _method(body: bytes) -> Any:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message.get("method") if isinstance(message, dict) else None


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
