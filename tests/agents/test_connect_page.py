"""The agent-facing docs page: how to connect, with every tool's schema."""

from __future__ import annotations

import json
import sys

import pytest
from django.utils.html import escape

from dashboard.mcp.tools import TOOLS

pytestmark = pytest.mark.django_db


def test_staff_see_how_to_connect_and_every_tool(staff_client):
    response = staff_client.get("/agents/connect/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/v1/token" in page and "/mcp" in page and "mcp_server" in page
    # Both ways OAuth 2 clients send credentials: form fields and HTTP Basic.
    assert "client_secret_post" in page and "client_secret_basic" in page
    for name in TOOLS:
        assert name in page
    assert "input_schema" in page and "parameters" in page
    # Where a JSON API client sends the tool calls the model makes with those definitions.
    assert "POST /api/v1/tools/&lt;name&gt;" in page


def test_mcp_url_is_this_site_unless_configured(staff_client, settings):
    settings.MCP_URL = ""
    page = staff_client.get("/agents/connect/").content.decode()
    assert 'data-testid="mcp-url">http://testserver/mcp<' in page

    # `make run` serves /mcp from its own ASGI process; the page must send agents there.
    settings.MCP_URL = "http://127.0.0.1:8001/mcp"
    page = staff_client.get("/agents/connect/").content.decode()
    assert 'data-testid="mcp-url">http://127.0.0.1:8001/mcp<' in page


def test_an_mcp_client_pointed_at_the_web_process_is_told_where_the_server_is(client, settings):
    # `make run`: the dashboard on PORT (WSGI), the MCP server on MCP_PORT (ASGI).
    settings.MCP_URL = "http://127.0.0.1:8001/mcp"
    response = client.post("/mcp", {}, content_type="application/json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "connect to http://127.0.0.1:8001/mcp instead" in response.json()["message"]
    settings.MCP_URL = ""
    assert "dashboard.asgi:application" in client.get("/mcp/").json()["message"]


def test_stdio_config_names_this_servers_interpreter_and_manage_py(staff_client, settings):
    page = staff_client.get("/agents/connect/").content.decode()
    assert "/path/to/" not in page
    assert escape(json.dumps(sys.executable)) in page
    assert escape(json.dumps(str(settings.BASE_DIR / "manage.py"))) in page
    # A client starts it without the shell's variables: the page says where settings go.
    assert '"env": {…}' in page and "DATABASE_URL" in page
