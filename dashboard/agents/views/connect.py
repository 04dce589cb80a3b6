"""How to connect an agent: the token exchange, MCP clients, and every tool's schema."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.mcp.tools import TOOLS


@require_GET
def connect(request: HttpRequest) -> HttpResponse:
    base = request.build_absolute_uri("/").rstrip("/")
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
    claude_desktop = json.dumps(
        {
            "mcpServers": {
                "switchboard": {
                    "command": "/path/to/switchboard/.venv/bin/python",
                    "args": [
                        "/path/to/switchboard/manage.py",
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
        {"base": base, "tools": tools, "claude_desktop": claude_desktop},
    )
