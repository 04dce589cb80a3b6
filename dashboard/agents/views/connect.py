"""How to connect an agent: the token exchange, MCP clients, and every tool's schema."""

from __future__ import annotations

import json
import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
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
