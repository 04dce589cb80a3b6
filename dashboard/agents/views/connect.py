"""How to connect an agent: the token exchange, MCP clients, and every tool's schema."""

from __future__ import annotations

import json
import sys

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from dashboard.mcp.tools import TOOLS


@require_GET
def connect(request: HttpRequest) -> HttpResponse:
    base = request.build_absolute_uri("/").rstrip("/")
    # Under `make run` /mcp is a separate ASGI process on its own port: this site's /mcp 404s.
    mcp_url = settings.MCP_URL or f"{base}/mcp"
    tools = [
        {
            "name": tool.name,
            "scope": tool.scope,
            "description": tool.description,
            "anthropic": json.dumps(
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema(),
                },
                indent=2,
            ),
            "openai": json.dumps(
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.input_schema(),
                    },
                },
                indent=2,
            ),
        }
        for tool in TOOLS.values()
    ]
    # stdio runs beside the database, so this server's own interpreter and manage.py are the
    # paths to paste (a client on another machine uses the streamable HTTP URL instead).
    claude_desktop = json.dumps(
        {
            "mcpServers": {
                "switchboard": {
                    "command": sys.executable,
                    "args": [
                        str(settings.BASE_DIR / "manage.py"),
                        "mcp_server",
                        "--agent",
                        "AGENT NAME",
                    ],
                }
            }
        },
        indent=2,
    )
    return render(
        request,
        "agents/connect.html",
        {"base": base, "mcp_url": mcp_url, "tools": tools, "claude_desktop": claude_desktop},
    )


@login_not_required
@csrf_exempt
def mcp_elsewhere(request: HttpRequest, rest: str = "") -> HttpResponse:
    """/mcp reached the WSGI site: the MCP server runs on the ASGI entry point. An MCP client
    pointed here (the first address one tries) is told where to go, in JSON, not a web page."""
    if settings.MCP_URL:
        where = f"connect to {settings.MCP_URL} instead"
    else:
        where = "route /mcp to the ASGI entry point (dashboard.asgi:application)"
    return JsonResponse(
        {
            "code": "not_found",
            "message": f"The MCP server is not served by this process: {where}, with the "
            "agent's bearer token. The staff page /agents/connect/ shows the address.",
        },
        status=404,
    )
